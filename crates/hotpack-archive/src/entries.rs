//! A manifest's path lists, each kept in one string: [`PathList`] (the resources) and
//! [`Entries`] (path -> size and blake3). A bundle of 10,000 entries used to cost 20,000
//! small `String`s and a B-tree on every open, and as many frees when it was dropped; these
//! cost three allocations each, whatever the count. Both are sorted, so a lookup is a binary
//! search and iteration is in path order (what a `BTreeMap` gave).

use std::fmt;

use crate::manifest::EntryDigest;

/// A list of paths, back to back in one string.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PathList {
    text: String,
    /// Where each path ends in `text` (it starts where the previous one ends).
    ends: Vec<usize>,
}

impl PathList {
    /// An empty list with room for `paths` paths of `bytes` bytes in all.
    pub(crate) fn with_capacity(paths: usize, bytes: usize) -> PathList {
        PathList { text: String::with_capacity(bytes), ends: Vec::with_capacity(paths) }
    }

    /// Append `path`.
    pub(crate) fn push(&mut self, path: &str) {
        self.text.push_str(path);
        self.ends.push(self.text.len());
    }

    /// The number of paths.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Path `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The paths, in list order.
    pub fn iter(&self) -> Paths<'_> {
        Paths { list: self, front: 0, back: self.len() }
    }

    /// Whether the paths are in strictly increasing byte order (sorted, no duplicates).
    pub(crate) fn is_strictly_sorted(&self) -> bool {
        self.iter().is_sorted_by(|a, b| a < b)
    }

    /// The permutation that sorts the list (stable: equal paths keep their order).
    pub(crate) fn sorting_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self.get(a).cmp(&self.get(b)));
        order
    }

    /// The list in the order `order` gives.
    pub(crate) fn permuted(&self, order: &[usize]) -> PathList {
        let mut out = PathList::with_capacity(order.len(), self.text.len());
        for &i in order {
            out.push(self.get(i).unwrap_or(""));
        }
        out
    }

    /// Whether `path` is in the list; the list must be sorted.
    pub fn contains_sorted(&self, path: &str) -> bool {
        self.position_sorted(path).is_some()
    }

    /// Where `path` is in a sorted list.
    fn position_sorted(&self, path: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).unwrap_or("").cmp(path) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

impl fmt::Debug for PathList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for PathList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> PathList {
        let mut list = PathList::default();
        for path in iter {
            list.push(path.as_ref());
        }
        list
    }
}

impl<'a> IntoIterator for &'a PathList {
    type Item = &'a str;
    type IntoIter = Paths<'a>;
    fn into_iter(self) -> Paths<'a> {
        self.iter()
    }
}

/// The paths of a [`PathList`], in order ([`PathList::iter`]).
#[derive(Debug, Clone)]
pub struct Paths<'a> {
    list: &'a PathList,
    /// The next path from the front, and one past the next from the back.
    front: usize,
    back: usize,
}

impl<'a> Iterator for Paths<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.front == self.back {
            return None;
        }
        self.front += 1;
        self.list.get(self.front - 1)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.back - self.front, Some(self.back - self.front))
    }
}

impl DoubleEndedIterator for Paths<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front == self.back {
            return None;
        }
        self.back -= 1;
        self.list.get(self.back)
    }
}

impl ExactSizeIterator for Paths<'_> {}

impl serde::Serialize for PathList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Path -> [`EntryDigest`], sorted by path, no path twice.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Entries {
    paths: PathList,
    digests: Vec<EntryDigest>,
}

impl Entries {
    /// From paths and their digests, in any order. `Err(path)`: a path given twice.
    pub(crate) fn new(paths: PathList, digests: Vec<EntryDigest>) -> Result<Entries, String> {
        debug_assert_eq!(paths.len(), digests.len());
        if paths.is_strictly_sorted() {
            return Ok(Entries { paths, digests });
        }
        let order = paths.sorting_order();
        if let Some(pair) = order.windows(2).find(|p| paths.get(p[0]) == paths.get(p[1])) {
            return Err(paths.get(pair[0]).unwrap_or("").to_owned());
        }
        let digests = order.iter().map(|&i| digests[i]).collect();
        Ok(Entries { paths: paths.permuted(&order), digests })
    }

    /// The digest of `path`.
    pub fn get(&self, path: &str) -> Option<&EntryDigest> {
        self.paths.position_sorted(path).map(|i| &self.digests[i])
    }

    /// Whether `path` has a digest.
    pub fn contains_key(&self, path: &str) -> bool {
        self.paths.contains_sorted(path)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The paths, in order.
    pub fn keys(&self) -> Paths<'_> {
        self.paths.iter()
    }

    /// `(path, digest)`, in path order.
    pub fn iter(&self) -> EntriesIter<'_> {
        self.paths.iter().zip(&self.digests)
    }
}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `(path, digest)` of an [`Entries`], in path order ([`Entries::iter`]).
pub type EntriesIter<'a> = std::iter::Zip<Paths<'a>, std::slice::Iter<'a, EntryDigest>>;

impl<'a> IntoIterator for &'a Entries {
    type Item = (&'a str, &'a EntryDigest);
    type IntoIter = EntriesIter<'a>;
    fn into_iter(self) -> EntriesIter<'a> {
        self.iter()
    }
}

/// From a map (what a packer builds): already sorted and unique.
impl From<std::collections::BTreeMap<String, EntryDigest>> for Entries {
    fn from(map: std::collections::BTreeMap<String, EntryDigest>) -> Entries {
        let paths: PathList = map.keys().collect();
        Entries { paths, digests: map.into_values().collect() }
    }
}

impl<const N: usize> From<[(String, EntryDigest); N]> for Entries {
    fn from(items: [(String, EntryDigest); N]) -> Entries {
        Entries::from(std::collections::BTreeMap::from(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u64) -> EntryDigest {
        EntryDigest { size: n, blake3: [n as u8; 32] }
    }

    #[test]
    fn unsorted_input_is_sorted_and_found() {
        let paths: PathList = ["b/x", "a", "c", "a/b"].into_iter().collect();
        let e = Entries::new(paths, vec![d(1), d(2), d(3), d(4)]).expect("no duplicates");
        assert_eq!(e.keys().collect::<Vec<_>>(), ["a", "a/b", "b/x", "c"]);
        assert_eq!(e.get("b/x"), Some(&d(1)));
        assert_eq!(e.get("a/b"), Some(&d(4)));
        assert_eq!(e.get("b"), None);
        assert_eq!(e.get(""), None);
        assert!(e.contains_key("c") && !e.contains_key("d"));
    }

    #[test]
    fn a_path_twice_is_named() {
        let paths: PathList = ["b", "a", "b"].into_iter().collect();
        assert_eq!(Entries::new(paths, vec![d(1), d(2), d(3)]), Err("b".to_owned()));
        let sorted_dup: PathList = ["a", "a"].into_iter().collect();
        assert_eq!(Entries::new(sorted_dup, vec![d(1), d(2)]), Err("a".to_owned()));
    }

    #[test]
    fn paths_run_from_both_ends() {
        let list: PathList = ["a", "bb", "ccc"].into_iter().collect();
        let mut it = list.iter();
        assert_eq!((it.len(), it.next(), it.next_back(), it.len()), (3, Some("a"), Some("ccc"), 1));
        assert_eq!((it.next(), it.next(), it.next_back()), (Some("bb"), None, None));
        assert_eq!(list.iter().rev().collect::<Vec<_>>(), ["ccc", "bb", "a"]);
    }

    #[test]
    fn empty_paths_and_lists_behave() {
        let list: PathList = ["", "x", ""].into_iter().collect();
        assert_eq!(list.iter().collect::<Vec<_>>(), ["", "x", ""]);
        assert_eq!(list.get(3), None);
        let none = Entries::default();
        assert!(none.is_empty() && none.get("").is_none() && none.iter().next().is_none());
    }
}
