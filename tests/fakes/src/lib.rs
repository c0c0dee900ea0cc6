//! Vendor simulators on loopback for rapport's tests and demo: they keep state so a test can assert
//! what a CRM now holds, and switch faults on and off.

pub mod capture;
pub mod exports;
pub mod faults;
pub mod hubspot;
pub mod klaviyo;
pub mod mailchimp;
pub mod records;
pub mod server;
pub mod shop;
pub mod shopify;
pub mod square;
pub mod time;
pub mod year;
