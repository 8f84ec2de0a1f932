//! Where engine state lives, behind one trait: in memory, or in SQLite shared by every rota
//! process of the user. A store makes a decision atomic: load, decide, reserve, commit.

pub mod conversations;
pub mod db;
pub mod ledger;
pub mod migrations;
