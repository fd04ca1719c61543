//! Dynamic batching: requests wait in a bounded queue, one inference thread takes what is
//! queued (waiting a few ms for more) and runs it as one ONNX Runtime batch.
//!
//! Inference never runs on the async runtime. The queue is bounded so that under overload the
//! server answers 503 at once instead of letting latency grow without limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::classifier::{Classifier, ModelInfo, Scores};
use crate::error::{Result, ServeError};
use crate::metrics::Metrics;

/// How the inference thread groups requests.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Most images in one network call.
    pub max_batch: usize,
    /// How long the first request of a batch waits for company.
    pub max_wait: Duration,
    /// Requests (not images) that may wait; one more gets 503.
    pub queue_capacity: usize,
}

/// The result of one request: scores per image plus how long it waited and ran.
#[derive(Debug)]
pub struct Answer {
    pub scores: Vec<Scores>,
    /// From submission until the batch started.
    pub queued: Duration,
    /// The network call of the batch this request was part of.
    pub inference: Duration,
    /// Images in that batch.
    pub batch_size: usize,
}

struct Job {
    inputs: Vec<Vec<f32>>,
    submitted: Instant,
    reply: oneshot::Sender<Result<Answer>>,
}

/// Handle to the inference thread. Cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    ready: Arc<AtomicBool>,
    alive: Arc<AtomicBool>,
    max_batch: usize,
    info: Arc<ModelInfo>,
}

impl Batcher {
    /// Starts the inference thread. It first warms the network up (one full batch, so ONNX
    /// Runtime allocates its buffers before the first user waits) and only then reports ready.
    pub fn start(
        mut classifier: Box<dyn Classifier>,
        policy: BatchPolicy,
        metrics: Metrics,
    ) -> Result<Batcher> {
        let policy = BatchPolicy { max_batch: policy.max_batch.max(1), ..policy };
        let (tx, rx) = sync_channel::<Job>(policy.queue_capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let alive = Arc::new(AtomicBool::new(true));
        let info = Arc::new(classifier.info().clone());
        let batcher = Batcher {
            tx,
            depth: depth.clone(),
            ready: ready.clone(),
            alive: alive.clone(),
            max_batch: policy.max_batch,
            info,
        };
        std::thread::Builder::new()
            .name("inference".into())
            .spawn(move || {
                let warm = vec![vec![0.0f32; sneaker_vision::INPUT_LEN]; policy.max_batch];
                let started = Instant::now();
                match classifier.classify(&warm) {
                    Ok(_) => {
                        tracing::info!(elapsed = ?started.elapsed(), batch = policy.max_batch, "model warmed up");
                        ready.store(true, Ordering::Release);
                        run_loop(classifier.as_mut(), &rx, policy, &depth, &metrics);
                    }
                    Err(e) => tracing::error!(error = %e, "model warm-up failed; not serving"),
                }
                ready.store(false, Ordering::Release);
                alive.store(false, Ordering::Release);
            })
            .map_err(|e| ServeError::Setup(format!("cannot start the inference thread: {e}")))?;
        Ok(batcher)
    }

    /// True once the network is loaded and warmed up, and while its thread runs.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Requests waiting in the queue right now.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Queues `inputs` (at most `max_batch` of them) and waits for their scores. Fails at
    /// once with [`ServeError::Overloaded`] when the queue is full.
    pub async fn classify(&self, inputs: Vec<Vec<f32>>) -> Result<Answer> {
        if inputs.len() > self.max_batch {
            return Err(ServeError::BadRequest(format!(
                "{} images in one request; the limit is {}",
                inputs.len(),
                self.max_batch
            )));
        }
        if !self.is_ready() {
            return Err(if self.alive.load(Ordering::Acquire) {
                ServeError::NotReady
            } else {
                ServeError::Internal("the inference thread has stopped".into())
            });
        }
        let (reply, answer) = oneshot::channel();
        // Count before sending so the inference thread never decrements below zero.
        let queued = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        let job = Job { inputs, submitted: Instant::now(), reply };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                return Err(ServeError::Overloaded { queued: queued - 1, retry_after_s: 1 });
            }
            Err(TrySendError::Disconnected(_)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                return Err(ServeError::Internal("the inference thread has stopped".into()));
            }
        }
        answer
            .await
            .map_err(|_| ServeError::Internal("the inference thread dropped a request".into()))?
    }
}

/// Takes jobs until every [`Batcher`] handle is gone.
fn run_loop(
    classifier: &mut dyn Classifier,
    rx: &Receiver<Job>,
    policy: BatchPolicy,
    depth: &AtomicUsize,
    metrics: &Metrics,
) {
    let take = |job: Job| {
        depth.fetch_sub(1, Ordering::Relaxed);
        job
    };
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => take(job),
                Err(_) => return,
            },
        };
        let mut images = first.inputs.len();
        let mut jobs = vec![first];
        let deadline = Instant::now() + policy.max_wait;
        while images < policy.max_batch {
            let next = match rx.try_recv() {
                Ok(job) => Ok(job),
                Err(_) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => rx.recv_timeout(left),
                    _ => Err(RecvTimeoutError::Timeout),
                },
            };
            match next {
                Ok(job) => {
                    let job = take(job);
                    if images + job.inputs.len() > policy.max_batch {
                        carried = Some(job);
                        break;
                    }
                    images += job.inputs.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        metrics.set_queue_depth(depth.load(Ordering::Relaxed));
        run_batch(classifier, jobs, metrics);
    }
}

/// One network call for all `jobs`, then each job gets its slice of the scores.
fn run_batch(classifier: &mut dyn Classifier, jobs: Vec<Job>, metrics: &Metrics) {
    // A client that gave up (timeout, closed connection) is not worth the compute.
    let mut jobs: Vec<Job> = jobs.into_iter().filter(|job| !job.reply.is_closed()).collect();
    if jobs.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut batch = Vec::with_capacity(jobs.iter().map(|job| job.inputs.len()).sum());
    let mut shares = Vec::with_capacity(jobs.len());
    for job in &mut jobs {
        shares.push((job.inputs.len(), started.duration_since(job.submitted)));
        batch.append(&mut job.inputs);
    }
    // A panic inside ONNX Runtime bindings must fail this batch, not kill the server.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        classifier.classify(&batch)
    }))
    .unwrap_or_else(|_| Err(ServeError::Internal("the network panicked".into())));
    let inference = started.elapsed();
    metrics.observe_batch(batch.len(), inference);
    match result {
        Ok(scores) if scores.len() == batch.len() => {
            let mut scores = scores.into_iter();
            for (job, (count, queued)) in jobs.into_iter().zip(shares) {
                let mine: Vec<Scores> = scores.by_ref().take(count).collect();
                let answer = Answer { scores: mine, queued, inference, batch_size: batch.len() };
                // The receiver may have gone away meanwhile; nothing to do then.
                let _ = job.reply.send(Ok(answer));
            }
        }
        Ok(scores) => {
            let msg = format!("the network gave {} results for {} images", scores.len(), batch.len());
            for job in jobs {
                let _ = job.reply.send(Err(ServeError::Internal(msg.clone())));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for job in jobs {
                let _ = job.reply.send(Err(ServeError::Internal(msg.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::classifier::ModelKind;

    /// Queue mechanics only (the real network is exercised in `tests/`): answers each image
    /// with its first value as the single probability, after an optional delay, and records
    /// the batch sizes it was given.
    struct Echo {
        info: ModelInfo,
        delay: Duration,
        batches: Arc<Mutex<Vec<usize>>>,
        gate: Option<Arc<(Mutex<bool>, std::sync::Condvar)>>,
    }

    impl Classifier for Echo {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn classify(&mut self, batch: &[Vec<f32>]) -> Result<Vec<Scores>> {
            if let Some(gate) = &self.gate {
                let (open, cv) = &**gate;
                let mut open = open.lock().expect("gate lock");
                while !*open {
                    open = cv.wait(open).expect("gate wait");
                }
            }
            std::thread::sleep(self.delay);
            self.batches.lock().expect("batches lock").push(batch.len());
            Ok(batch.iter().map(|x| Scores { probs: vec![x[0]], footwear: 1.0, features: vec![x[0]] }).collect())
        }
    }

    fn echo(delay: Duration, gate: Option<Arc<(Mutex<bool>, std::sync::Condvar)>>) -> (Box<Echo>, Arc<Mutex<Vec<usize>>>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let info = ModelInfo {
            kind: ModelKind::Imagenet,
            name: "echo".into(),
            labels: vec!["x".into()],
            input_size: 224,
            run_id: None,
            created: None,
        };
        (Box::new(Echo { info, delay, batches: batches.clone(), gate }), batches)
    }

    fn input(v: f32) -> Vec<f32> {
        let mut x = vec![0.0; sneaker_vision::INPUT_LEN];
        x[0] = v;
        x
    }

    async fn until_ready(b: &Batcher) {
        for _ in 0..500 {
            if b.is_ready() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("batcher never became ready");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_requests_share_batches_and_get_their_own_answers() {
        let (classifier, batches) = echo(Duration::from_millis(20), None);
        let policy = BatchPolicy { max_batch: 8, max_wait: Duration::from_millis(20), queue_capacity: 64 };
        let b = Batcher::start(classifier, policy, Metrics::new()).expect("start");
        until_ready(&b).await;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { (i, b.classify(vec![input(i as f32)]).await) })
            })
            .collect();
        for task in tasks {
            let (i, answer) = task.await.expect("task");
            let answer = answer.expect("classified");
            assert_eq!(answer.scores, vec![Scores { probs: vec![i as f32], footwear: 1.0, features: vec![i as f32] }]);
        }
        let batches = batches.lock().expect("lock").clone();
        // First entry is the warm-up batch of max_batch.
        assert_eq!(batches[0], 8);
        let served = &batches[1..];
        assert_eq!(served.iter().sum::<usize>(), 16);
        assert!(served.iter().all(|&n| n <= 8), "{served:?}");
        assert!(served.len() < 16, "requests were never batched: {served:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_queue_answers_overloaded_at_once() {
        let gate = Arc::new((Mutex::new(true), std::sync::Condvar::new()));
        let (classifier, _) = echo(Duration::ZERO, Some(gate.clone()));
        let policy = BatchPolicy { max_batch: 1, max_wait: Duration::ZERO, queue_capacity: 2 };
        let b = Batcher::start(classifier, policy, Metrics::new()).expect("start");
        until_ready(&b).await;
        *gate.0.lock().expect("lock") = false;
        // One request blocks the thread inside the network, two fill the queue.
        let mut waiting = Vec::new();
        for i in 0..3 {
            let b2 = b.clone();
            waiting.push(tokio::spawn(async move { b2.classify(vec![input(i as f32)]).await }));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let err = b.classify(vec![input(9.0)]).await.expect_err("queue is full");
        assert!(matches!(err, ServeError::Overloaded { .. }), "{err}");
        assert_eq!(b.depth(), 2);
        *gate.0.lock().expect("lock") = true;
        gate.1.notify_all();
        for w in waiting {
            w.await.expect("task").expect("queued requests are answered once the gate opens");
        }
        assert_eq!(b.depth(), 0);
    }

    #[tokio::test]
    async fn too_many_images_in_one_request_is_a_client_error() {
        let (classifier, _) = echo(Duration::ZERO, None);
        let policy = BatchPolicy { max_batch: 2, max_wait: Duration::ZERO, queue_capacity: 2 };
        let b = Batcher::start(classifier, policy, Metrics::new()).expect("start");
        until_ready(&b).await;
        let err = b.classify(vec![input(0.0); 3]).await.expect_err("3 > 2");
        assert_eq!(err.status().as_u16(), 400);
    }
}
