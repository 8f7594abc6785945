//! kroute's harness: verification runs, the machine probe, the benchmark loop, and the JSON
//! schema results are shared in.

pub mod accuracy;
pub mod bench;
pub mod calibrate;
pub mod ceilings;
pub mod charts;
pub mod meter;
pub mod probe;
pub mod report;
pub mod routing;
pub mod schema;
pub mod select;
pub mod sweep;
pub mod verify;
