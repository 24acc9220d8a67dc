//! The Go binaries of one `rko build`, had before any image is assembled.
//! For every (import path, platform) the binary in `KOCACHE` is reused
//! when its recorded inputs still hold ([`fingerprint`]), starting no `go`
//! process; the others are built, all those of one platform with the same
//! directory, arguments and environment in one `go build -o DIR/ PKG…`
//! (Go compiles what they share once), split only where Go would write two
//! to the same file name. `--verify-cache` builds the reused ones too, and
//! fails if Go now makes another binary.

use crate::digest;
use crate::error::{Error, IoContext, Result};
use crate::image::platform::Platform;
use crate::porcelain::announce::Announcer;
use crate::porcelain::cache::{self, BinarySlot};
use crate::porcelain::context::Context;
use crate::porcelain::go::command::{self, GoBuild};
use crate::porcelain::go::env::{go_env, resolve_go};
use crate::porcelain::go::fingerprint::{self, Observer, Recorded, Snapshot};
use crate::porcelain::go::input_set::Inputs;
use crate::porcelain::go::inputs::{self, Shared};
use crate::porcelain::go::list::Package;
use crate::porcelain::settings::plan::PackagePlan;
use oci_spec::image::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A binary to have.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub package: &'a Package,
    pub plan: &'a PackagePlan,
    pub platform: &'a Platform,
}

/// A binary in the cache, locked against other rko processes sharing
/// `KOCACHE` until dropped.
#[derive(Debug)]
pub struct Binary {
    pub slot: BinarySlot,
    pub digest: Digest,
}

/// One binary's `go build`, as if alone.
#[derive(Debug)]
struct Spec {
    /// Its place in the cache.
    key: String,
    /// ko's file name for it (`/ko-app/NAME`).
    name: String,
    build: GoBuild,
    /// The digest of its settings, for its fingerprint.
    settings: String,
    /// What binaries must share to be built by one `go build`.
    group: String,
}

impl Spec {
    fn import_path(&self) -> &str {
        &self.build.import_paths[0]
    }
}

/// Every wanted binary, in order (the same one, wanted twice, shared).
pub fn binaries(cx: Context, wanted: &[Wanted], announcer: &Announcer) -> Result<Vec<Arc<Binary>>> {
    let go = resolve_go(&cx.settings.go, cx.env, cx.work_dir);
    let specs = wanted
        .iter()
        .map(|w| spec(cx, w, go.as_deref(), announcer))
        .collect::<Result<Vec<_>>>()?;
    let mut unique: BTreeMap<&str, &Spec> = BTreeMap::new();
    for spec in &specs {
        unique.entry(&spec.key).or_insert(spec);
    }
    // Locked in key order, so that rko processes sharing KOCACHE never
    // wait on each other in a cycle.
    let mut slots = BTreeMap::new();
    for (key, spec) in &unique {
        slots.insert(key.to_string(), cx.cache.binary(key, &spec.name)?);
    }
    let unique: Vec<&Spec> = unique.into_values().collect();
    let observer = Observer::new(cx.now);
    let Checked { reused, previous } = check_records(cx, &unique, &slots, &observer)?;
    let previous: BTreeMap<&str, &Snapshot> = previous
        .iter()
        .map(|(key, snapshot)| (*key, snapshot))
        .collect();
    let mut digests: BTreeMap<String, Digest> = BTreeMap::new();
    let mut hits = Vec::new();
    let mut misses = Vec::new();
    for (spec, digest) in unique.iter().zip(reused) {
        match digest {
            Some(digest) => {
                log::debug!(
                    "{} for {}: inputs unchanged, binary reused",
                    spec.import_path(),
                    spec.build.platform
                );
                digests.insert(spec.key.clone(), digest.clone());
                hits.push((*spec, digest));
            }
            None => misses.push(*spec),
        }
    }
    // Only a go build needs a scratch directory.
    let scratch = if misses.is_empty() && !cx.settings.verify_cache {
        None
    } else {
        Some(cx.cache.scratch()?)
    };
    let dir = scratch.as_ref().map_or(Path::new(""), |s| s.path());
    let groups = groups(&misses);
    let built = cx.try_map(&groups, |(n, members)| {
        let run = GroupRun {
            cx,
            slots: &slots,
            dir,
            n: *n,
        };
        run.build(members, go.as_deref(), &observer, &previous)
    })?;
    digests.extend(built.into_iter().flatten());
    if cx.settings.verify_cache {
        verify(cx, &hits, &slots, dir)?;
    }
    let binaries: BTreeMap<String, Arc<Binary>> = slots
        .into_iter()
        .map(|(key, slot)| {
            let digest = digests[&key].clone();
            (key, Arc::new(Binary { slot, digest }))
        })
        .collect();
    Ok(specs.iter().map(|s| binaries[&s.key].clone()).collect())
}

/// A binary's spec: its flags and ldflags rendered for its platform (as
/// ko's `createBuildArgs` does), its settings' digest and its group.
fn spec(cx: Context, wanted: &Wanted, go: Option<&Path>, announcer: &Announcer) -> Result<Spec> {
    let Wanted {
        package,
        plan,
        platform,
    } = *wanted;
    let disable_optimizations = cx.settings.disable_optimizations;
    let (flags, ldflags) = cx
        .templating
        .build_args(plan, &command::platform_env(platform)?)?;
    let key = cache::key(&[
        &package.import_path,
        &platform.to_string(),
        &format!("{:?}{flags:?}{ldflags:?}{disable_optimizations}", plan.env),
    ]);
    let build = GoBuild {
        go: cx.settings.go.clone(),
        dir: plan.dir.clone(),
        import_paths: vec![package.import_path.clone()],
        platform: platform.clone(),
        env: plan.env.clone(),
        flags,
        ldflags,
        disable_optimizations,
        output: PathBuf::new(),
    };
    let overrides = command::env_overrides(&build)?;
    let env = go_env(cx.env, &overrides);
    let settings = inputs::settings(&build, go.unwrap_or(&build.go), &env);
    let group = format!(
        "{platform}\0{}\0{:?}\0{overrides:?}",
        build.dir.display(),
        command::build_args(&build)
    );
    announce(package, plan, platform, announcer);
    Ok(Spec {
        key,
        name: package.binary_name(),
        build,
        settings,
        group,
    })
}

/// ko's lines before each `go build`: the `builds[]` entry that applies
/// (its `configForImportPath`), then what is built. They go together,
/// after the import path's `Using base` line (see `announce.rs`).
fn announce(package: &Package, plan: &PackagePlan, platform: &Platform, announcer: &Announcer) {
    let path = &package.import_path;
    if let Some(id) = &plan.build_config {
        announcer.after_base(path, format!("Using build config {id} for {path}"));
    }
    announcer.after_base(path, format!("Building {path} for {platform}"));
}

/// How many binaries' records are read and checked together: their inputs
/// are looked at at once, on `--jobs` threads, and then dropped, so that
/// memory does not grow with the number of binaries (a record names every
/// file a binary was built from: about 0.6 MB in memory for a command over
/// 300 packages).
const RECORDS_AT_ONCE: usize = 16;

/// What the records of the binaries wanted say.
struct Checked<'a> {
    /// For each spec, its binary's digest when its recorded inputs hold.
    reused: Vec<Option<Digest>>,
    /// The recorded inputs of those that do not, by key: what changed is
    /// found from them.
    previous: BTreeMap<&'a str, Snapshot>,
}

/// Each of `specs`' records, checked.
fn check_records<'a>(
    cx: Context,
    specs: &[&'a Spec],
    slots: &BTreeMap<String, BinarySlot>,
    observer: &Observer,
) -> Result<Checked<'a>> {
    let mut reused = Vec::with_capacity(specs.len());
    let mut previous = BTreeMap::new();
    for batch in specs.chunks(RECORDS_AT_ONCE) {
        let records = cx.try_map(batch, |spec| Ok(Recorded::read(&slots[&spec.key].path)))?;
        let snapshots: Vec<&Snapshot> = records.iter().flatten().map(Recorded::inputs).collect();
        observer.warm(&snapshots, cx.pool);
        let checks: Vec<(&Spec, Option<Recorded>)> = batch.iter().copied().zip(records).collect();
        let digests = cx.try_map(&checks, |(spec, record)| {
            reusable(cx, &slots[&spec.key], record.as_ref(), spec, observer)
        })?;
        for ((spec, (_, record)), digest) in batch.iter().zip(checks).zip(digests) {
            if let (None, Some(record)) = (&digest, record) {
                previous.insert(spec.key.as_str(), record.into_inputs());
            }
            reused.push(digest);
        }
    }
    Ok(Checked { reused, previous })
}

/// The digest of the binary in `slot`, when its recorded inputs hold.
fn reusable(
    cx: Context,
    slot: &BinarySlot,
    record: Option<&Recorded>,
    spec: &Spec,
    observer: &Observer,
) -> Result<Option<Digest>> {
    let Some(record) = record.filter(|_| slot.path.exists()) else {
        return Ok(None);
    };
    // The digest recorded with the binary's stamp (Cache::binary removed
    // a binary without one): no hashing.
    let digest = cx.cache.record_binary(slot)?;
    let holds = record.holds(&digest, &spec.settings, observer);
    Ok(holds.then_some(digest))
}

/// Which specs share one `go build` (see [`group_indices`]), numbered.
fn groups<'a>(specs: &[&'a Spec]) -> Vec<(usize, Vec<&'a Spec>)> {
    let keys: Vec<(&str, &str)> = specs
        .iter()
        .map(|s| (s.group.as_str(), command::exec_name(s.import_path())))
        .collect();
    group_indices(&keys)
        .into_iter()
        .enumerate()
        .map(|(n, members)| (n, members.into_iter().map(|i| specs[i]).collect()))
        .collect()
}

/// Groups (group key, output name) pairs: the same key together, in order
/// of first appearance, but never two with one output name in a group
/// (`go build -o DIR/` would write both to DIR/NAME): the second goes to
/// the next group with that key where its name is free.
fn group_indices(members: &[(&str, &str)]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(&str, BTreeSet<&str>, Vec<usize>)> = Vec::new();
    for (i, (key, name)) in members.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(k, names, _)| k == key && !names.contains(name))
        {
            Some((_, names, indices)) => {
                names.insert(name);
                indices.push(i);
            }
            None => groups.push((key, BTreeSet::from([*name]), vec![i])),
        }
    }
    groups.into_iter().map(|(_, _, indices)| indices).collect()
}

/// One group's `go build`, in the run's scratch directory.
struct GroupRun<'a> {
    cx: Context<'a>,
    slots: &'a BTreeMap<String, BinarySlot>,
    /// The scratch directory.
    dir: &'a Path,
    /// The group's number, naming its directories.
    n: usize,
}

impl GroupRun<'_> {
    /// Forgets each member's record, and links its cached binary in where
    /// Go writes it: Go keeps an up-to-date binary where it is, and
    /// relinks only what changed.
    fn link_cached(&self, build: &GoBuild, members: &[&Spec]) {
        for member in members {
            let slot = &self.slots[&member.key];
            fingerprint::forget(&slot.path);
            let _ = fs::hard_link(&slot.path, build.output_of(member.import_path()));
        }
    }

    /// The `go build` of `members` into `DIR/out-N/` (`verify-N` for
    /// `--verify-cache`), Go's temporaries in `DIR/tmp-N` (in `KOCACHE`,
    /// so Go renames its output rather than copying it).
    fn go_build(&self, members: &[&Spec], out: &str) -> Result<GoBuild> {
        let output = self.dir.join(format!("{out}-{}", self.n));
        let tmp = self.dir.join(format!("tmp-{out}-{}", self.n));
        for dir in [&output, &tmp] {
            fs::create_dir_all(dir).with_path("creating", dir)?;
        }
        let mut build = members[0].build.clone();
        build.import_paths = members
            .iter()
            .map(|m| m.import_path().to_string())
            .collect();
        build.output = output;
        build
            .env
            .push(("GOTMPDIR".to_string(), tmp.display().to_string()));
        Ok(build)
    }

    /// Builds `members`, each into its slot, recording each with its
    /// inputs as they were before `go build` ran; (key, digest) for each.
    /// `go list` runs beside `go build`, and what it finds is taken as a
    /// look just before `go build` started would have seen it
    /// ([`Observer::snapshot_since`]): given, when every member has a
    /// record of its last build with the same settings (an edit, not a new
    /// target or toolchain), a look at the last build's inputs then; else
    /// only at the repository's state
    /// ([`Observer::before_first_build`]).
    fn build(
        &self,
        members: &[&Spec],
        go: Option<&Path>,
        observer: &Observer,
        previous: &BTreeMap<&str, &Snapshot>,
    ) -> Result<Vec<(String, Digest)>> {
        let build = self.go_build(members, "out")?;
        let before = match last_inputs(members, previous) {
            Some(last) => {
                let known: Vec<&Snapshot> = members
                    .iter()
                    .filter_map(|m| previous.get(m.key.as_str()).copied())
                    .collect();
                observer.snapshot_reusing(&last, &known)
            }
            None if fingerprint::quiet_tree(&build.dir) => observer.before_first_build(&build.dir),
            None => return self.build_after_look(build, members, go, observer),
        };
        self.link_cached(&build, members);
        let start = fingerprint::clock();
        let (listed, built) = std::thread::scope(|scope| {
            let listing = scope.spawn(|| inputs(&build, members, self.cx, go));
            let built = command::build(&build);
            (listing.join(), built)
        });
        built?;
        let listed = listed.unwrap_or_else(|_| members.iter().map(|_| None).collect());
        let snapshots: Vec<Option<Snapshot>> = listed
            .iter()
            .map(|i| {
                i.as_ref()
                    .map(|i| observer.snapshot_since(i, &before, start))
            })
            .collect();
        self.place_all(&build, members, snapshots)
    }

    /// [`GroupRun::build`] when files changed just now: `go list` and the
    /// look at what it names come before `go build`.
    fn build_after_look(
        &self,
        build: GoBuild,
        members: &[&Spec],
        go: Option<&Path>,
        observer: &Observer,
    ) -> Result<Vec<(String, Digest)>> {
        let snapshots: Vec<_> = inputs(&build, members, self.cx, go)
            .iter()
            .map(|i| i.as_ref().map(|i| observer.snapshot(i)))
            .collect();
        self.link_cached(&build, members);
        command::build(&build)?;
        self.place_all(&build, members, snapshots)
    }

    /// Moves each member's binary into its slot and records it with its
    /// snapshot; (key, digest) for each.
    fn place_all(
        &self,
        build: &GoBuild,
        members: &[&Spec],
        snapshots: Vec<Option<Snapshot>>,
    ) -> Result<Vec<(String, Digest)>> {
        members
            .iter()
            .zip(snapshots)
            .map(|(member, snapshot)| {
                let slot = &self.slots[&member.key];
                let produced = build.output_of(member.import_path());
                place(&produced, &slot.path)?;
                let digest = self.cx.cache.record_binary(slot)?;
                if let Some(snapshot) = snapshot {
                    fingerprint::write(&slot.path, snapshot, &digest)?;
                }
                Ok((member.key.clone(), digest))
            })
            .collect()
    }
}

/// What the last builds of `members` read, together, when each has a
/// record with its settings of now.
fn last_inputs(members: &[&Spec], previous: &BTreeMap<&str, &Snapshot>) -> Option<Inputs> {
    let mut union = Inputs::default();
    for member in members {
        let last = previous.get(member.key.as_str())?;
        if last.settings() != member.settings {
            return None;
        }
        let inputs = last.inputs();
        union.files.extend(inputs.files);
        union.dirs.extend(inputs.dirs);
        union.repository = union.repository.or(inputs.repository);
    }
    Some(union)
}

/// Each member's inputs, from one `go list -deps` of the group; `None` for
/// a member whose inputs rko cannot know (it is then built every time), or
/// for all when `go list` fails (`go build` then says why).
fn inputs(
    build: &GoBuild,
    members: &[&Spec],
    cx: Context,
    go: Option<&Path>,
) -> Vec<Option<Inputs>> {
    let nothing = || members.iter().map(|_| None).collect();
    let Some(go) = go else {
        return nothing();
    };
    let listed = match inputs::list_deps(build) {
        Ok(listed) => listed,
        Err(e) => {
            log::debug!("not recording the inputs of this go build: {e}");
            return nothing();
        }
    };
    let Ok(overrides) = command::env_overrides(&members[0].build) else {
        return nothing();
    };
    let env = go_env(cx.env, &overrides);
    let args = command::build_args(build);
    let shared = Shared {
        go,
        dir: &build.dir,
        env: &env,
        args: &args,
    };
    members
        .iter()
        .map(|member| {
            match inputs::of_binary(
                shared,
                member.import_path(),
                &listed,
                member.settings.clone(),
            ) {
                Ok(inputs) => Some(inputs),
                Err(why) => {
                    log::debug!("{}: go build runs every time: {why}", member.import_path());
                    None
                }
            }
        })
        .collect()
}

/// Puts the binary Go wrote at `produced` into the slot at `slot`: nothing
/// to do when Go left the linked-in binary in place, else a rename.
fn place(produced: &Path, slot: &Path) -> Result<()> {
    let made = fs::metadata(produced)
        .map_err(|e| Error::file(produced, format!("go build wrote no binary here: {e}")))?;
    if let Ok(old) = fs::metadata(slot) {
        if (old.dev(), old.ino()) == (made.dev(), made.ino()) {
            return Ok(());
        }
    }
    fs::rename(produced, slot).with_path("moving into the cache", produced)
}

/// `--verify-cache`: builds every reused binary again, apart, and fails
/// naming the first that differs from the one reused.
fn verify(
    cx: Context,
    hits: &[(&Spec, Digest)],
    slots: &BTreeMap<String, BinarySlot>,
    dir: &Path,
) -> Result<()> {
    let specs: Vec<&Spec> = hits.iter().map(|(spec, _)| *spec).collect();
    let reused: BTreeMap<&str, &Digest> = hits.iter().map(|(s, d)| (s.key.as_str(), d)).collect();
    cx.try_map(&groups(&specs), |(n, members)| {
        let run = GroupRun {
            cx,
            slots,
            dir,
            n: *n,
        };
        let build = run.go_build(members, "verify")?;
        command::build(&build)?;
        for member in members {
            let fresh = build.output_of(member.import_path());
            let (made, _) = digest::sha256_file(&fresh)?;
            let kept = reused[member.key.as_str()];
            if made != *kept {
                let slot = &slots[&member.key].path;
                return Err(Error::tool(
                    format!(
                        "go build {} for {}",
                        member.import_path(),
                        member.build.platform
                    ),
                    format!(
                        "--verify-cache: the binary reused from {} ({kept}) differs from the one \
                         go build makes now ({made}): an input rko does not fingerprint changed \
                         (a file a go wrapper reads, say); remove {} to rebuild it",
                        slot.display(),
                        slot.parent().unwrap_or(slot).display()
                    ),
                ));
            }
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_share_a_go_build_unless_settings_or_names_differ() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("a", "app"), ("a", "two"), ("a", "three")], "0 1 2"),
            (&[("a", "app"), ("b", "two"), ("a", "three")], "0 2 | 1"),
            (&[("a", "app"), ("a", "app"), ("a", "two")], "0 2 | 1"),
            (
                &[("a", "app"), ("a", "app"), ("a", "app"), ("b", "app")],
                "0 | 1 | 2 | 3",
            ),
            (&[], ""),
        ];
        for (members, want) in cases {
            let got: Vec<String> = group_indices(members)
                .iter()
                .map(|g| g.iter().map(usize::to_string).collect::<Vec<_>>().join(" "))
                .collect();
            assert_eq!(got.join(" | "), want, "{members:?}");
        }
    }
}
