//! The `mailconnect` program: parses arguments and hands over to the library.

fn main() {}
