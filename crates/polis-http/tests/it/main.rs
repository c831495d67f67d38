//! HTTP integration tests: the real application on port 0, on a fresh SQLite file and on a
//! fresh PostgreSQL database (from `POLIS_TEST_PG_URL`), through a real HTTP client.

mod accounts;
mod contract;
mod events;
mod exchange;
mod faults;
mod harness;
mod incidents;
#[path = "../../../polis/tests/common/ipycam.rs"]
mod ipycam;
mod live;
mod media;
mod mqtt;
mod plans;
mod ptz;
mod registry;
mod security;
mod sos;
mod warnings;
