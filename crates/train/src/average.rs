//! An exponential moving average of a network's weights over the optimizer's steps (EMA, as in
//! Polyak averaging): the averaged network is validated, kept and exported instead of the last
//! step's weights, which wander with each mini-batch. burn has no such helper, so this walks the
//! module's float tensors (parameters and BatchNorm running statistics alike) with its visitor and
//! mapper.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// The average of a network's weights; `decay` is the share of the old average kept each step.
pub struct Average<M> {
    model: M,
    decay: f64,
    steps: u64,
}

impl<M: Module + Clone> Average<M> {
    /// Starts the average at `model`'s weights.
    pub fn new(model: &M, decay: f64) -> Self {
        Average { model: model.clone(), decay, steps: 0 }
    }

    /// Folds in `model`'s weights after optimizer step t. The share kept is min(d, t / (t + 1)):
    /// the plain mean of the weights so far until that reaches the decay (after about 1 / (1 − d)
    /// steps), then an exponential average over about that many steps. A fine-tuning run here is a
    /// few hundred steps, so the usual warm-up towards d over thousands of steps would never
    /// average anything.
    pub fn update(&mut self, model: &M) {
        self.steps += 1;
        let t = self.steps as f64;
        let keep = self.decay.min(t / (t + 1.0));
        let mut current = Collect(Vec::new());
        model.visit(&mut current);
        let mut blend = Blend { current: current.0.into_iter(), keep };
        self.model = self.model.clone().map(&mut blend);
        debug_assert!(blend.current.next().is_none(), "the average and the model have the same tensors");
    }

    /// The averaged network.
    pub fn model(&self) -> &M {
        &self.model
    }
}

/// Every float tensor of a module, flattened, in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val().detach();
        let n = value.shape().num_elements();
        self.0.push(value.reshape([n]));
    }
}

/// Blends each float tensor of the average with the model's, in the same visiting order.
struct Blend {
    current: std::vec::IntoIter<Tensor<1>>,
    keep: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self.current.next().expect("the average and the model have the same tensors");
        let keep = self.keep;
        param.map(|old| {
            let shape = old.shape();
            old.detach().mul_scalar(keep) + current.reshape(shape).mul_scalar(1.0 - keep)
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    use super::*;

    fn weights(l: &Linear) -> Vec<f32> {
        l.weight.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn filled(l: Linear, v: f32) -> Linear {
        let mut l = l;
        l.weight = l.weight.map(|w| w.zeros_like().add_scalar(v));
        l
    }

    #[test]
    fn the_average_follows_the_weights_by_its_decay() {
        let device = Device::flex();
        let start = filled(LinearConfig::new(3, 2).init(&device), 1.0);
        let mut avg = Average::new(&start, 0.5);
        // Step 1: the mean of the start (1.0) and the new weights (5.0).
        avg.update(&filled(start.clone(), 5.0));
        let expected = 3.0;
        assert!(weights(avg.model()).iter().all(|w| (w - expected).abs() < 1e-5), "{:?}", weights(avg.model()));
        // Later the decay itself: half the old average, half the new weights.
        avg.steps = 1_000;
        avg.update(&filled(start.clone(), 0.0));
        assert!(weights(avg.model()).iter().all(|w| (w - expected / 2.0).abs() < 1e-5));
        // The model it was given is left alone.
        assert!(weights(&start).iter().all(|w| (w - 1.0).abs() < 1e-6));
    }

    #[test]
    fn a_decay_of_zero_is_the_model_itself() {
        let device = Device::flex();
        let start = filled(LinearConfig::new(2, 2).init(&device), 3.0);
        let mut avg = Average::new(&start, 0.0);
        avg.update(&filled(start.clone(), -2.0));
        assert_eq!(weights(avg.model()), vec![-2.0; 4]);
    }
}
