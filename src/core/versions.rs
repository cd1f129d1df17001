//! The pipeline's [`VersionClock`]: where its versions start (see `model::version` for why).
//!
//! Nothing waits for the state store to hand out versions: stamps stay within
//! `model::version::LEAD_LIMIT_MS` of the clock, so a later pipeline starts above them by the
//! clock alone; the highest stamp is also stored with every checkpoint, which keeps a restart
//! above them even if the machine's clock stepped back in between.

use std::sync::Arc;

use crate::error::Result;
use crate::model::version::{start_floor, VersionClock};
use crate::model::Version;
use crate::state::StateStore;

/// The clock of a pipeline starting now.
pub async fn start_clock(store: &StateStore) -> Result<Arc<VersionClock>> {
    let stored = store
        .load_checkpoint()
        .await?
        .and_then(|cp| cp.highest_version);
    let floor = start_floor(Version::now().0, stored);
    Ok(Arc::new(VersionClock::new(floor)))
}
