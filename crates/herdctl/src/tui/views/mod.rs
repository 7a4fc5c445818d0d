//! One module per view: its own state, what its keys do, and how it is
//! drawn. None of them knows the app or the others; they read the herd
//! from [`super::nodes`].

pub mod console;
pub mod flood;
pub mod herd;
pub mod records;
