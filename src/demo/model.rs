//! The simulated serverless platform behind the demo API: per-endpoint pools of function
//! instances that go cold after idling or being recycled, so cold starts appear the way the
//! story found them. Deterministic for a given seed and request order.

use std::time::{Duration, Instant};

/// How one language's function behaves.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// Endpoint name (`rust`, `go`, ...).
    pub name: &'static str,
    /// Service time of a warm instance, in milliseconds.
    pub warm_ms: f64,
    /// Uniform jitter added to the warm time, ± milliseconds.
    pub jitter_ms: f64,
    /// Extra time a cold start adds, in milliseconds.
    pub cold_ms: f64,
    /// Uniform jitter of the cold start, ± milliseconds.
    pub cold_jitter_ms: f64,
    /// An instance idle longer than this is reclaimed and starts cold again.
    pub idle_timeout: Duration,
    /// One request in this many has its instance recycled afterwards (0: never).
    pub recycle_one_in: u32,
}

/// The five Slipspace functions: rust and go steady and fast; kotlin slower with moderate
/// cold starts; fsharp and csharp fast when warm with rare, large cold-start spikes.
pub const SLIPSPACE: [Profile; 5] = [
    Profile::new("rust", 6.0, 2.0, 35.0, 10.0, 0),
    Profile::new("go", 7.0, 2.5, 50.0, 15.0, 0),
    Profile::new("kotlin", 12.0, 4.0, 350.0, 100.0, 60),
    Profile::new("fsharp", 8.0, 3.0, 1_100.0, 300.0, 250),
    Profile::new("csharp", 8.0, 3.0, 1_300.0, 400.0, 300),
];

impl Profile {
    const fn new(
        name: &'static str,
        warm_ms: f64,
        jitter_ms: f64,
        cold_ms: f64,
        cold_jitter_ms: f64,
        recycle_one_in: u32,
    ) -> Profile {
        Profile {
            name,
            warm_ms,
            jitter_ms,
            cold_ms,
            cold_jitter_ms,
            idle_timeout: Duration::from_secs(600),
            recycle_one_in,
        }
    }
}

pub use crate::rng::Rng;

/// Uniform in [-1, 1).
fn symmetric(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

#[derive(Debug, Clone, Copy)]
struct Instance {
    busy: bool,
    warm: bool,
    last_used: Instant,
}

/// What serving one request costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// Which instance serves it.
    pub instance: usize,
    /// How long it takes, init included.
    pub service: Duration,
    /// Whether it paid a cold start.
    pub cold: bool,
    /// The cold start's init time (zero when warm): what the platform reports apart from
    /// the function's own duration.
    pub init: Duration,
}

/// One endpoint's instances.
#[derive(Debug, Clone)]
pub struct Pool {
    profile: Profile,
    instances: Vec<Instance>,
    rng: Rng,
}

impl Pool {
    /// An empty pool: the first requests all start cold.
    pub fn new(profile: Profile, seed: u64) -> Pool {
        Pool {
            profile,
            instances: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// Takes a warm idle instance if there is one, else starts one cold.
    pub fn acquire(&mut self, now: Instant) -> Assignment {
        let p = self.profile;
        let warm = self.instances.iter().position(|i| {
            !i.busy && i.warm && now.saturating_duration_since(i.last_used) < p.idle_timeout
        });
        let (instance, cold) = match warm {
            Some(index) => (index, false),
            None => match self.instances.iter().position(|i| !i.busy) {
                Some(index) => (index, true),
                None => {
                    self.instances.push(Instance {
                        busy: false,
                        warm: false,
                        last_used: now,
                    });
                    (self.instances.len() - 1, true)
                }
            },
        };
        self.instances[instance].busy = true;
        let handler_ms = (p.warm_ms + p.jitter_ms * symmetric(&mut self.rng)).max(0.1);
        let init_ms = match cold {
            true => (p.cold_ms + p.cold_jitter_ms * symmetric(&mut self.rng)).max(0.0),
            false => 0.0,
        };
        Assignment {
            instance,
            service: Duration::from_secs_f64((handler_ms + init_ms) / 1_000.0),
            cold,
            init: Duration::from_secs_f64(init_ms / 1_000.0),
        }
    }

    /// Returns an instance after its request; now and then the platform recycles it.
    pub fn release(&mut self, instance: usize, now: Instant) {
        let recycle = self.profile.recycle_one_in > 0
            && self
                .rng
                .next_u64()
                .is_multiple_of(u64::from(self.profile.recycle_one_in));
        if let Some(i) = self.instances.get_mut(instance) {
            i.busy = false;
            i.warm = !recycle;
            i.last_used = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_requests_are_cold_then_warm() {
        let now = Instant::now();
        let mut pool = Pool::new(SLIPSPACE[4], 7);
        let a = pool.acquire(now);
        let b = pool.acquire(now);
        assert!(a.cold && b.cold && a.instance != b.instance);
        assert!(a.service > Duration::from_millis(800));
        pool.release(a.instance, now);
        let c = pool.acquire(now + Duration::from_millis(10));
        assert!(!c.cold || pool.profile.recycle_one_in > 0);
    }

    #[test]
    fn idle_instances_go_cold() {
        let now = Instant::now();
        let mut pool = Pool::new(SLIPSPACE[0], 1);
        let a = pool.acquire(now);
        pool.release(a.instance, now);
        assert!(!pool.acquire(now + Duration::from_secs(1)).cold);
        let later = now + Duration::from_secs(3_600);
        pool.release(0, now);
        assert!(pool.acquire(later).cold);
    }

    #[test]
    fn same_seed_same_behaviour() {
        let now = Instant::now();
        let run = |seed| {
            let mut pool = Pool::new(SLIPSPACE[2], seed);
            (0..200)
                .map(|_| {
                    let a = pool.acquire(now);
                    pool.release(a.instance, now);
                    a
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }
}
