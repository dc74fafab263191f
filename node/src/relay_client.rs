//! Leaving bundles at the relay and collecting them (see [`crate::bundle`]).
