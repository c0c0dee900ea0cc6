//! The end-to-end tests, one test binary (it links wasmtime and the host once): a module per area,
//! each with real plugins, real HTTP on loopback, a real SQLite file and real PostgreSQL.

mod bad_input;
mod consent;
mod contract_v0_3;
mod crash;
mod crm_unsubscribes;
mod csv_import;
mod delivery;
mod demo;
mod facts;
mod forget;
mod governance;
mod hubspot;
mod identity;
mod journeys;
mod klaviyo;
mod mailchimp;
mod packages;
mod pairs;
mod people_facts;
mod policy;
mod postgres;
mod reload;
mod restart;
mod retention;
mod sandbox;
mod schema;
mod shopify;
mod shopify_v0_3;
mod simulators;
mod source_facts;
mod square;
mod square_v0_3;
mod vendor_swap;
mod webhooks;
