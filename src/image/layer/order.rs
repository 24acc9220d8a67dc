//! The one order rko writes entries in, kept while streaming: the specs'
//! entries merged by path (ties in spec order), checked for duplicates,
//! with a directory entry inserted for every missing parent.

use super::entry::{entry, Defaults, Entry, Kind};
use super::walk::TreeWalk;
use crate::error::{Error, Result};
use std::cmp::Ordering;
use std::collections::VecDeque;

/// Orders paths component by component: as bytes, with `/` below every
/// other byte, so `a/b` sorts before `a-b` and every directory's content
/// follows it directly.
pub fn path_order(a: &str, b: &str) -> Ordering {
    let key = |byte: u8| if byte == b'/' { 0 } else { byte };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// Entries tagged with the index of the spec they come from.
type Tagged = Box<dyn Iterator<Item = Result<(usize, Entry)>>>;

/// Several streams, each in path order, merged into one: by path, then by
/// spec index, which is the order a stable sort of all entries gives.
pub struct Merge {
    streams: Vec<Tagged>,
    /// Each stream's next entry, taken ahead.
    heads: Vec<Option<(usize, Entry)>>,
}

impl Merge {
    /// `singles` in any order, each with its spec index; `trees` each
    /// with its own.
    pub fn new(mut singles: Vec<(usize, Entry)>, trees: Vec<(usize, TreeWalk)>) -> Merge {
        singles.sort_by(|a, b| path_order(&a.1.path, &b.1.path).then(a.0.cmp(&b.0)));
        let mut streams: Vec<Tagged> = vec![Box::new(singles.into_iter().map(Ok))];
        for (index, walk) in trees {
            streams.push(Box::new(walk.fuse().map(move |e| e.map(|e| (index, e)))));
        }
        let heads = streams.iter().map(|_| None).collect();
        Merge { streams, heads }
    }
}

impl Iterator for Merge {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        for (head, stream) in self.heads.iter_mut().zip(&mut self.streams) {
            if head.is_none() {
                match stream.next() {
                    Some(Ok(next)) => *head = Some(next),
                    Some(Err(e)) => return Some(Err(e)),
                    None => {}
                }
            }
        }
        let first = self
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, head)| head.as_ref().map(|head| (i, head)))
            .min_by(|(_, a), (_, b)| path_order(&a.1.path, &b.1.path).then(a.0.cmp(&b.0)))?
            .0;
        self.heads[first].take().map(|(_, entry)| Ok(entry))
    }
}

/// What the entry written last was, to tell duplicates and a parent that
/// is not a directory.
#[derive(PartialEq)]
enum Was {
    Dir,
    File,
    Symlink,
}

/// Walks the sorted entries once: rejects duplicates (a directory asked
/// for twice is fine), and inserts a directory entry for every missing
/// parent. Holds the chain of enclosing directories only.
pub struct Complete<I> {
    entries: I,
    defaults: Defaults,
    /// The chain of directories enclosing the current entry.
    chain: Vec<String>,
    last: Option<(String, Was)>,
    ready: VecDeque<Entry>,
    failed: bool,
}

impl<I: Iterator<Item = Result<Entry>>> Complete<I> {
    pub fn new(entries: I, defaults: &Defaults) -> Self {
        Complete {
            entries,
            defaults: defaults.clone(),
            chain: Vec::new(),
            last: None,
            ready: VecDeque::new(),
            failed: false,
        }
    }

    fn place(&mut self, item: Entry) -> Result<()> {
        if let Some((last, was)) = &self.last {
            if *last == item.path {
                if *was == Was::Dir && matches!(item.kind, Kind::Dir) {
                    return Ok(());
                }
                return Err(Error::invalid(format!(
                    "duplicate destination {:?}: two entries write the same path in the layer",
                    item.path
                )));
            }
        }
        while self.chain.last().is_some_and(|dir| {
            !(item.path.starts_with(dir.as_str())
                && item.path.as_bytes().get(dir.len()) == Some(&b'/'))
        }) {
            self.chain.pop();
        }
        let ancestors: Vec<usize> = item.path.match_indices('/').map(|(i, _)| i).collect();
        for &end in &ancestors[self.chain.len()..] {
            let parent = &item.path[..end];
            if let Some((_, was)) = self.last.as_ref().filter(|(last, _)| last == parent) {
                return Err(Error::invalid(format!(
                    "{parent:?} is needed as a directory for {:?} but is a {}",
                    item.path,
                    if *was == Was::Symlink {
                        "symlink"
                    } else {
                        "file"
                    }
                )));
            }
            let dir_mode = self.defaults.dir_mode;
            self.ready.push_back(entry(
                parent.to_string(),
                Kind::Dir,
                dir_mode,
                &self.defaults,
            ));
            self.chain.push(parent.to_string());
            self.last = Some((parent.to_string(), Was::Dir));
        }
        let was = match item.kind {
            Kind::Dir => Was::Dir,
            Kind::File { .. } => Was::File,
            Kind::Symlink(_) => Was::Symlink,
        };
        if was == Was::Dir {
            self.chain.push(item.path.clone());
        }
        self.last = Some((item.path.clone(), was));
        self.ready.push_back(item);
        Ok(())
    }
}

impl<I: Iterator<Item = Result<Entry>>> Iterator for Complete<I> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Some(Ok(entry));
            }
            if self.failed {
                return None;
            }
            let placed = match self.entries.next()? {
                Ok(item) => self.place(item),
                Err(e) => Err(e),
            };
            if let Err(e) = placed {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}
