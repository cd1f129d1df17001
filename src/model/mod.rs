//! The types every stage shares, below all of them: binlog positions, versions, GTID sets,
//! table schemas and values, row changes, commit points, HBase naming. No I/O; nothing here
//! imports anything of the crate outside `model`.

pub mod change;
pub mod commit;
pub mod gtid;
pub mod naming;
pub mod position;
pub mod schema;
pub mod value;
pub mod version;

pub use change::{Cell, RowChange, RowOp};
pub use commit::{Barrier, CommitPoint, CommitSlot};
pub use position::BinlogPosition;
pub use schema::{ColumnSchema, TableSchema};
pub use value::SqlValue;
pub use version::Version;
