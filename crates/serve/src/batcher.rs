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
    pub fn start(mut classifier: Box<dyn Classifier>, policy: BatchPolicy, metrics: Metrics) -> Result<Batcher> {
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
        answer.await.map_err(|_| ServeError::Internal("the inference thread dropped a request".into()))?
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
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| classifier.classify(&batch)))
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
    /// with its first value as the single probability, and records the batch sizes it was given.
    /// While its gate is closed, a call waits inside the "network": tests order events with the
    /// gate and the counters, never with sleeps.
    struct Echo {
        info: ModelInfo,
        calls: Arc<Calls>,
        gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
    }

    #[derive(Default)]
    struct Calls {
        /// Calls that have entered the network (the warm-up is the first).
        entered: std::sync::atomic::AtomicUsize,
        /// Batch size of each finished call.
        batches: Mutex<Vec<usize>>,
    }

    impl Calls {
        fn entered(&self) -> usize {
            self.entered.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Classifier for Echo {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn classify(&mut self, batch: &[Vec<f32>]) -> Result<Vec<Scores>> {
            self.calls.entered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (open, cv) = &*self.gate;
            let mut open = open.lock().expect("gate lock");
            while !*open {
                open = cv.wait(open).expect("gate wait");
            }
            self.calls.batches.lock().expect("batches lock").push(batch.len());
            Ok(batch.iter().map(|x| Scores { probs: vec![x[0]], footwear: 1.0, features: vec![x[0]] }).collect())
        }
    }

    /// An echo network whose gate starts open, with handles on its calls and its gate.
    fn echo() -> (Box<Echo>, Arc<Calls>, Gate) {
        let calls = Arc::new(Calls::default());
        let gate = Arc::new((Mutex::new(true), std::sync::Condvar::new()));
        let info = ModelInfo {
            kind: ModelKind::Imagenet,
            name: "echo".into(),
            labels: vec!["x".into()],
            input_size: 224,
            run_id: None,
            created: None,
        };
        (Box::new(Echo { info, calls: calls.clone(), gate: gate.clone() }), calls, Gate(gate))
    }

    struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

    impl Gate {
        fn set(&self, open: bool) {
            *self.0.0.lock().expect("gate lock") = open;
            self.0.1.notify_all();
        }
    }

    fn input(v: f32) -> Vec<f32> {
        let mut x = vec![0.0; sneaker_vision::INPUT_LEN];
        x[0] = v;
        x
    }

    /// Waits (yielding to the runtime) until `condition` holds; a bound on polls, not on time,
    /// keeps a broken batcher from hanging the suite.
    async fn until(what: &str, condition: impl Fn() -> bool) {
        for _ in 0..100_000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{what} never happened");
    }

    fn spawn_request(b: &Batcher, v: f32) -> tokio::task::JoinHandle<Result<Answer>> {
        let b = b.clone();
        tokio::spawn(async move { b.classify(vec![input(v)]).await })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn queued_requests_share_batches_and_get_their_own_answers() {
        let (classifier, calls, gate) = echo();
        let policy = BatchPolicy { max_batch: 8, max_wait: Duration::from_millis(20), queue_capacity: 64 };
        let b = Batcher::start(classifier, policy, Metrics::new()).expect("start");
        until("warm-up", || b.is_ready()).await;
        gate.set(false);
        // One request holds the network; fifteen queue behind it.
        let mut tasks = vec![(0, spawn_request(&b, 0.0))];
        until("the first request entering the network", || calls.entered() == 2).await;
        tasks.extend((1..16).map(|i| (i, spawn_request(&b, i as f32))));
        until("fifteen queued requests", || b.depth() == 15).await;
        gate.set(true);
        for (i, task) in tasks {
            let answer = task.await.expect("task").expect("classified");
            assert_eq!(answer.scores, vec![Scores { probs: vec![i as f32], footwear: 1.0, features: vec![i as f32] }]);
        }
        // The warm-up batch of max_batch, the lone first request, then the queue in full batches.
        assert_eq!(*calls.batches.lock().expect("lock"), vec![8, 1, 8, 7]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_queue_answers_overloaded_at_once() {
        let (classifier, calls, gate) = echo();
        let policy = BatchPolicy { max_batch: 1, max_wait: Duration::ZERO, queue_capacity: 2 };
        let b = Batcher::start(classifier, policy, Metrics::new()).expect("start");
        until("warm-up", || b.is_ready()).await;
        gate.set(false);
        // One request blocks the thread inside the network, two fill the queue.
        let mut waiting = vec![spawn_request(&b, 0.0)];
        until("the first request entering the network", || calls.entered() == 2).await;
        waiting.extend([spawn_request(&b, 1.0), spawn_request(&b, 2.0)]);
        until("two queued requests", || b.depth() == 2).await;
        let err = b.classify(vec![input(9.0)]).await.expect_err("queue is full");
        assert!(matches!(err, ServeError::Overloaded { .. }), "{err}");
        assert_eq!(b.depth(), 2);
        gate.set(true);
        for w in waiting {
            w.await.expect("task").expect("queued requests are answered once the gate opens");
        }
        assert_eq!(b.depth(), 0);
    }

    #[tokio::test]
    async fn too_many_images_in_one_request_is_a_client_error() {
        let (classifier, _, _) = echo();
        let policy = BatchPolicy { max_batch: 2, max_wait: Duration::ZERO, queue_capacity: 2 };
        let b = Batcher::start(classifier, policy, Metrics::new()).expect("start");
        until("warm-up", || b.is_ready()).await;
        let err = b.classify(vec![input(0.0); 3]).await.expect_err("3 > 2");
        assert_eq!(err.status().as_u16(), 400);
    }
}
