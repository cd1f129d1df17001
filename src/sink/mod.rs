//! Sinks: where changes are written. HBase (the copy kept exact), Kafka (Maxwell change events),
//! the internal topic of the distributed mode, and the dead-letter output.
//!
//! Every sink that the router feeds has one shape: a [`Sink`] takes items in order and makes
//! them durable, and one loop ([`run`]) drives it. The loop receives [`SinkMsg`]s in the router's
//! order: items, commit points (a transaction ended) and barriers (a bootstrap chunk ended). It
//! counts the items it has handed to the sink, and holds each commit point, barrier and
//! in-flight permit until the sink reports that every item before it is durable; then it
//! acknowledges the commit point on the sink's [`CommitSlot`], fires the barrier, and releases
//! the permit. When the sink is ready to make progress, the loop first takes every message that
//! queued meanwhile, so one write carries all that arrived while the previous one was in flight
//! (natural batching, as a database's group commit). So a checkpoint never passes an item a sink has not made durable, whatever the
//! sink: the HBase writer (durable = written by `mutateRowsTs`), the Kafka change-event
//! publisher and the capture writer (durable = acknowledged by Kafka).
//!
//! A new sink implements [`Sink`] (accept items, count what is durable, wait for and make
//! progress) and is given a queue and a checkpoint slot in `core::pipeline`.

pub mod dead_letter;
pub mod distributed;
pub mod hbase;
pub mod kafka;

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::error::Result;
use crate::model::{Barrier, CommitPoint, CommitSlot};
use crate::telemetry::stall::StallWatch;

/// What the router sends a sink, in order.
pub enum SinkMsg<T> {
    /// Items (the changes of one binlog event, a chunk's rows, rendered events), holding their
    /// share of the in-flight byte budget until they are durable.
    Items {
        items: Vec<T>,
        permit: OwnedSemaphorePermit,
    },
    /// A transaction ended here.
    Commit(CommitPoint),
    /// A bootstrap chunk ends here.
    Barrier(Arc<Barrier>),
}

/// A sink: takes items in order and makes them durable.
#[allow(async_fn_in_trait)]
pub trait Sink {
    type Item;

    /// Takes items in order; may write some of them at once (a full batch).
    async fn accept(&mut self, items: Vec<Self::Item>) -> Result<()>;

    /// How many of the accepted items are durable, counted from the sink's start; every item
    /// accepted before a durable one is durable too.
    fn durable(&self) -> u64;

    /// Resolves when the sink can make progress on items not yet durable (a batch is due, a
    /// delivery was acknowledged). Called only while some are pending; must be cancel-safe.
    async fn ready(&mut self);

    /// Makes progress after [`Sink::ready`] resolved: writes the due batch, settles deliveries.
    async fn progress(&mut self) -> Result<()>;

    /// Makes every accepted item durable: the stream ended.
    async fn finish(&mut self) -> Result<()>;
}

/// What waits for the items before it to be durable.
enum Ack {
    Commit(CommitPoint),
    Barrier(Arc<Barrier>),
    Permit(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// Drives `sink` with the messages of `rx` until the channel closes (then everything accepted is
/// made durable) or the sink fails; commit points are acknowledged on `slot`. The sink is busy
/// for `stalls` while it holds items that are not durable, and progresses as they become so.
pub async fn run<S: Sink>(
    mut sink: S,
    mut rx: mpsc::Receiver<SinkMsg<S::Item>>,
    slot: CommitSlot,
    stalls: Arc<StallWatch>,
) -> Result<()> {
    let mut accepted = 0u64;
    // Acknowledgements in arrival order, each with the count of items accepted before it.
    let mut waiting: VecDeque<(u64, Ack)> = VecDeque::new();
    let (mut busy, mut durable) = (None, 0);
    loop {
        if sink.durable() > durable {
            durable = sink.durable();
            stalls.progress();
        }
        release(&mut waiting, durable, &slot);
        let pending = durable < accepted;
        match (pending, busy.is_some()) {
            (true, false) => busy = Some(stalls.busy()),
            (false, true) => busy = None,
            _ => {}
        }
        tokio::select! {
            () = sink.ready(), if pending => {
                // What queued while the sink was busy goes with this progress (natural
                // batching: one write carries everything that arrived during the last one).
                while let Ok(msg) = rx.try_recv() {
                    take(&mut sink, msg, &mut accepted, &mut waiting).await?;
                }
                sink.progress().await?
            }
            msg = rx.recv() => match msg {
                None => {
                    sink.finish().await?;
                    release(&mut waiting, sink.durable(), &slot);
                    return Ok(());
                }
                Some(msg) => take(&mut sink, msg, &mut accepted, &mut waiting).await?,
            }
        }
    }
}

/// Hands a message's items to the sink, or queues its acknowledgement behind them.
async fn take<S: Sink>(
    sink: &mut S,
    msg: SinkMsg<S::Item>,
    accepted: &mut u64,
    waiting: &mut VecDeque<(u64, Ack)>,
) -> Result<()> {
    match msg {
        SinkMsg::Items { items, permit } => {
            *accepted += items.len() as u64;
            sink.accept(items).await?;
            waiting.push_back((*accepted, Ack::Permit(permit)));
        }
        SinkMsg::Commit(point) => waiting.push_back((*accepted, Ack::Commit(point))),
        SinkMsg::Barrier(b) => waiting.push_back((*accepted, Ack::Barrier(b))),
    }
    Ok(())
}

/// Applies every acknowledgement whose items are all durable.
fn release(waiting: &mut VecDeque<(u64, Ack)>, durable: u64, slot: &CommitSlot) {
    while waiting
        .front()
        .is_some_and(|(before, _)| *before <= durable)
    {
        match waiting.pop_front().expect("front exists").1 {
            Ack::Commit(point) => slot.ack(&point),
            Ack::Barrier(b) => b.arrive(),
            Ack::Permit(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BinlogPosition;
    use tokio::sync::{oneshot, Semaphore};

    /// Makes items durable only when told to (`progress`), or all at `finish`.
    struct Manual {
        accepted: u64,
        durable: u64,
        step: Arc<tokio::sync::Notify>,
    }

    impl Sink for Manual {
        type Item = u32;
        async fn accept(&mut self, items: Vec<u32>) -> Result<()> {
            self.accepted += items.len() as u64;
            Ok(())
        }
        fn durable(&self) -> u64 {
            self.durable
        }
        async fn ready(&mut self) {
            self.step.notified().await
        }
        async fn progress(&mut self) -> Result<()> {
            self.durable = (self.durable + 1).min(self.accepted);
            Ok(())
        }
        async fn finish(&mut self) -> Result<()> {
            self.durable = self.accepted;
            Ok(())
        }
    }

    /// Always ready; records how many items it had accepted at each progress.
    struct Eager {
        accepted: u64,
        durable: u64,
        progress_at: Arc<std::sync::Mutex<Vec<u64>>>,
    }

    impl Sink for Eager {
        type Item = u32;
        async fn accept(&mut self, items: Vec<u32>) -> Result<()> {
            self.accepted += items.len() as u64;
            Ok(())
        }
        fn durable(&self) -> u64 {
            self.durable
        }
        async fn ready(&mut self) {}
        async fn progress(&mut self) -> Result<()> {
            self.progress_at.lock().unwrap().push(self.accepted);
            self.durable = self.accepted;
            Ok(())
        }
        async fn finish(&mut self) -> Result<()> {
            self.durable = self.accepted;
            Ok(())
        }
    }

    #[tokio::test]
    async fn what_queued_while_the_sink_was_busy_goes_with_its_next_progress() {
        let progress_at = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Eager {
            accepted: 0,
            durable: 0,
            progress_at: progress_at.clone(),
        };
        let slot = CommitSlot::new(point(4));
        let budget = Arc::new(Semaphore::new(100));
        let (tx, rx) = mpsc::channel(16);
        // Five messages queue before the loop runs, as they do during a write in flight.
        for i in 0..5 {
            let permit = budget.clone().acquire_many_owned(1).await.unwrap();
            tx.send(SinkMsg::Items {
                items: vec![i, i],
                permit,
            })
            .await
            .unwrap();
        }
        tx.send(SinkMsg::Commit(point(100))).await.unwrap();
        let stalls = StallWatch::new(std::time::Duration::from_secs(60));
        let task = tokio::spawn(run(sink, rx, slot.clone(), stalls));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(
            *progress_at.lock().unwrap(),
            vec![10],
            "one progress for everything queued"
        );
        assert_eq!(slot.get(), point(100));
        drop(tx);
        task.await.unwrap().unwrap();
    }

    fn point(offset: u64) -> CommitPoint {
        CommitPoint::new(BinlogPosition::new("b.000001", offset).unwrap(), None)
    }

    #[tokio::test]
    async fn commits_and_barriers_wait_for_every_item_before_them() {
        let step = Arc::new(tokio::sync::Notify::new());
        let sink = Manual {
            accepted: 0,
            durable: 0,
            step: step.clone(),
        };
        let slot = CommitSlot::new(point(4));
        let budget = Arc::new(Semaphore::new(10));
        let (tx, rx) = mpsc::channel(16);
        let stalls = StallWatch::new(std::time::Duration::from_secs(60));
        let task = tokio::spawn(run(sink, rx, slot.clone(), stalls.clone()));
        let permit = budget.clone().acquire_many_owned(3).await.unwrap();
        tx.send(SinkMsg::Items {
            items: vec![1, 2],
            permit,
        })
        .await
        .unwrap();
        tx.send(SinkMsg::Commit(point(100))).await.unwrap();
        let (done, mut fired) = oneshot::channel();
        tx.send(SinkMsg::Barrier(Arc::new(Barrier::new(1, done))))
            .await
            .unwrap();
        tokio::task::yield_now().await;
        assert_eq!(slot.get(), point(4), "nothing durable yet");
        assert!(
            stalls.waiting_for().is_some(),
            "busy while items are not durable"
        );
        assert_eq!(budget.available_permits(), 7);
        step.notify_one(); // one of two items durable
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(slot.get(), point(4));
        step.notify_one(); // both
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(slot.get(), point(100));
        assert!(fired.try_recv().is_ok());
        assert_eq!(budget.available_permits(), 10, "permit released");
        assert_eq!(stalls.waiting_for(), None, "not busy once all is durable");
        // A commit with nothing before it pending is acknowledged at once; closing finishes.
        tx.send(SinkMsg::Commit(point(200))).await.unwrap();
        drop(tx);
        task.await.unwrap().unwrap();
        assert_eq!(slot.get(), point(200));
    }
}
