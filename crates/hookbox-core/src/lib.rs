//! What every hookbox floor shares, and nothing else: what kind of failure an
//! error is ([`failure`]), the name of every environment variable hookbox
//! reads or sets ([`env_names`]), durations and sizes as users write them
//! ([`units`]) and the one retry schedule ([`backoff`]).

pub mod backoff;
pub mod env_names;
pub mod failure;
pub mod units;
