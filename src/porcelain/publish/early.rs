//! Pushing each image as soon as it is built, while the others still build
//! (as `ko resolve` does, a goroutine per reference): the round trips of one
//! image's push wait beside the compression of the next image's layer.

use super::naming::image_name;
use super::{to_registry, Publishing, MAX_CHECKS_AT_ONCE, TRANSFERS_PER_IMAGE};
use crate::error::Result;
use crate::parallel::{self, lock};
use crate::registry::push::Pushed;
use crate::registry::RegistryOptions;
use std::path::PathBuf;
use std::sync::{mpsc, Mutex};

/// An image ready to push: its place among the targets, where it is, and
/// whether it is likely the one pushed last time (the registry is asked
/// first then).
pub struct Ready {
    pub index: usize,
    pub import_path: String,
    pub layout: PathBuf,
    pub reused: bool,
}

/// Runs `build`, which hands each of `count` images to its argument as it
/// is built; each is pushed to the registry at once, up to `jobs` requests
/// (and at least four for each image) and as many images' pushes as the
/// checks allow. What `build` returns, and each image's push by index.
/// `build`'s error comes first, then the first push error by index; an
/// image never handed over is not pushed.
pub fn while_building<T>(
    publishing: &Publishing,
    registry: &RegistryOptions,
    jobs: usize,
    count: usize,
    build: impl FnOnce(&(dyn Fn(Ready) + Sync)) -> Result<T>,
) -> Result<(T, Vec<Pushed>)> {
    let each = parallel::share(jobs, count).max(TRANSFERS_PER_IMAGE);
    // An image the registry likely holds already costs a few HEADs, a wait
    // on the network: as many as that are asked at once.
    let at_once = jobs.max(count.min(MAX_CHECKS_AT_ONCE)).min(count.max(1));
    let results: Mutex<Vec<Option<Result<Pushed>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    let receiver: Mutex<Option<mpsc::Receiver<Ready>>> = Mutex::new(None);
    let built = std::thread::scope(|scope| {
        // The sender lives in here: however `build` ends, a panic too, it
        // goes, and the workers end once what was handed over is pushed.
        let (sender, queue) = mpsc::channel::<Ready>();
        *lock(&receiver) = Some(queue);
        for _ in 0..at_once {
            scope.spawn(|| loop {
                let next = lock(&receiver).as_ref().map(|queue| queue.recv());
                let Some(Ok(ready)) = next else {
                    return;
                };
                let name = image_name(
                    &publishing.repository,
                    &ready.import_path,
                    publishing.naming,
                );
                let tags = &publishing.tags;
                let pushed = to_registry(&ready.layout, &name, tags, registry, each, ready.reused);
                lock(&results)[ready.index] = Some(pushed);
            });
        }
        // The workers outlive the sender: a send cannot fail.
        let hand_over = |ready: Ready| drop(sender.send(ready));
        build(&hand_over)
    })?;
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let pushed = results
        .into_iter()
        .map(|result| result.expect("a build that ends well hands over every image"))
        .collect::<Result<Vec<_>>>()?;
    Ok((built, pushed))
}
