//! Group commit of property values: the value writes of concurrent requests are committed
//! together, in one transaction, by one task of the process. A request is answered only once
//! the transaction holding its values committed, so nothing acknowledged is lost; a batch that
//! fails is retried one request at a time, so a request fails only for its own values.

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use crate::domain::things::{PropertyWrite, store_values};
use crate::error::ApiError;

/// Requests committed together at most.
pub const BATCH_MAX: usize = 256;

/// Requests waiting for the writer at most; more wait to be queued.
const QUEUE: usize = 4_096;

/// One request's values: the writes of each Thing, committed together.
struct Job {
    things: Vec<(i64, Vec<PropertyWrite>)>,
    done: oneshot::Sender<Result<(), ApiError>>,
}

/// The writer of one process.
#[derive(Clone, Debug)]
pub struct ValueWriter {
    jobs: mpsc::Sender<Job>,
}

impl ValueWriter {
    /// Starts the writer over `db` (on the current tokio runtime).
    pub fn start(db: DatabaseConnection) -> ValueWriter {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, queue));
        ValueWriter { jobs }
    }

    /// Writes `writes` of the Thing `thing_id`; returns once they are committed.
    pub async fn write(&self, thing_id: i64, writes: Vec<PropertyWrite>) -> Result<(), ApiError> {
        self.write_all(vec![(thing_id, writes)]).await
    }

    /// Writes the writes of every Thing of `things` (by id) in one transaction, all or
    /// nothing; returns once they are committed.
    pub async fn write_all(&self, things: Vec<(i64, Vec<PropertyWrite>)>) -> Result<(), ApiError> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { things, done })
            .await
            .map_err(|_| ApiError::internal("the property value writer stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the property value writer stopped"))?
    }
}

async fn run(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH_MAX);
    while queue.recv_many(&mut batch, BATCH_MAX).await > 0 {
        match commit(&db, &batch).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            // Unreachable: every request of the batch answers so at once, none is retried.
            Err(ApiError::DatabaseUnavailable(cause)) => {
                let cause = cause.to_string();
                for job in batch.drain(..) {
                    let _ = job
                        .done
                        .send(Err(ApiError::DatabaseUnavailable(cause.clone().into())));
                }
            }
            Err(err) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    let _ = job.done.send(Err(err));
                }
            }
            Err(_) => {
                for job in batch.drain(..) {
                    let result = commit(&db, std::slice::from_ref(&job)).await;
                    let _ = job.done.send(result);
                }
            }
        }
    }
}

/// Commits every job of `batch` in one transaction.
async fn commit(db: &DatabaseConnection, batch: &[Job]) -> Result<(), ApiError> {
    let txn = crate::db::begin_write(db)
        .await
        .map_err(ApiError::internal)?;
    for job in batch {
        for (thing_id, writes) in &job.things {
            store_values(&txn, *thing_id, writes).await?;
        }
    }
    txn.commit().await.map_err(ApiError::internal)?;
    Ok(())
}
