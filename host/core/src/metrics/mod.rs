//! Business metrics, as pure rules over plain values: the period they cover and the one before it
//! (`period`), the figures read from sales — repeat purchase rate, days between visits, time to a
//! second order, historic lifetime value (`business`) — and those read from journeys — each
//! journey's results, response by channel, targeted attachments against the holdout
//! (`journeys`) — and what the CRMs reported of the journey messages (`engagement`). The host reads the tables, calls these and serves the result; each module's doc
//! defines its figures exactly.

pub mod business;
pub mod engagement;
pub mod journeys;
pub mod period;
