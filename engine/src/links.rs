//! Which links a load keeps and which a target knows, checked per sample by the pipeline's merger
//! before aggregation: a region ([`LinkSet`], `links => ...`) and a reference network
//! ([`Network`], `vs_ingest_set_links`) with the choice of what to do with links it lacks
//! ([`UnknownLinks`]).

use std::collections::HashMap;

/// A set of link ids: sorted, so a lookup is a binary search over one flat array (a national
/// network's 450,000 ids are 3.6 MB).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkSet(Vec<i64>);

impl LinkSet {
    pub fn new(mut ids: Vec<i64>) -> LinkSet {
        ids.sort_unstable();
        ids.dedup();
        LinkSet(ids)
    }

    pub fn contains(&self, link_id: i64) -> bool {
        self.0.binary_search(&link_id).is_ok()
    }

    /// [`contains`](Self::contains), looking first just after the previous look-up's place
    /// (`cursor`, kept by the caller): files list a slot's links in ascending order, so most
    /// look-ups take one comparison instead of a binary search.
    pub fn contains_near(&self, link_id: i64, cursor: &mut usize) -> bool {
        near(&self.0, link_id, |&l| l, cursor).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One link of a reference network and the local days it exists: `[valid_from, valid_until)`,
/// as days since 1970-01-01 in the file's local time; `None`: open on that side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkLink {
    pub link_id: i64,
    pub valid_from: Option<i32>,
    pub valid_until: Option<i32>,
}

/// A target's reference network: its links, each listed once, with their validity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network(Vec<NetworkLink>);

impl Network {
    /// The network of these links; a link listed twice keeps its first entry (the catalog
    /// lists each link once).
    pub fn new(mut links: Vec<NetworkLink>) -> Network {
        links.sort_by_key(|l| l.link_id);
        links.dedup_by_key(|l| l.link_id);
        Network(links)
    }

    /// Whether the network has `link_id` on the local day of `local_hour` (hours since
    /// 1970-01-01 00:00 local time).
    pub fn knows(&self, link_id: i64, local_hour: i64) -> bool {
        let Ok(at) = self.0.binary_search_by_key(&link_id, |l| l.link_id) else { return false };
        Self::valid(&self.0[at], local_hour)
    }

    /// [`knows`](Self::knows), looking first near the previous look-up's place (as
    /// [`LinkSet::contains_near`]).
    pub fn knows_near(&self, link_id: i64, local_hour: i64, cursor: &mut usize) -> bool {
        near(&self.0, link_id, |l| l.link_id, cursor).is_some_and(|at| Self::valid(&self.0[at], local_hour))
    }

    fn valid(link: &NetworkLink, local_hour: i64) -> bool {
        let day = local_hour.div_euclid(24);
        link.valid_from.is_none_or(|from| day >= i64::from(from))
            && link.valid_until.is_none_or(|until| day < i64::from(until))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The index of `link_id` in `sorted` (ascending by `key`), tried first at `cursor + 1` and
/// `cursor`; `cursor` is left at the found index (or just before where the link would be).
fn near<T>(sorted: &[T], link_id: i64, key: impl Fn(&T) -> i64, cursor: &mut usize) -> Option<usize> {
    let next = *cursor + 1;
    for at in [next, *cursor] {
        match sorted.get(at).map(&key) {
            Some(id) if id == link_id => {
                *cursor = at;
                return Some(at);
            }
            _ => {}
        }
    }
    // Between the cursor's link and the next one: not there, and the cursor stays.
    if sorted.get(*cursor).map(&key).is_some_and(|id| id < link_id)
        && sorted.get(next).map(&key).is_none_or(|id| id > link_id)
    {
        return None;
    }
    match sorted.binary_search_by_key(&link_id, key) {
        Ok(at) => {
            *cursor = at;
            Some(at)
        }
        Err(at) => {
            *cursor = at.saturating_sub(1);
            None
        }
    }
}

/// What a load does with the samples of a link its target's network lacks (on that day). Either
/// way they are counted, per link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownLinks {
    /// Load them like any other (the default: nothing is lost while a network lags the data).
    #[default]
    Load,
    /// Leave them out, like a region filter's.
    Skip,
}

impl UnknownLinks {
    /// The word for it in SQL (`unknown_links => 'skip'`) and in a stored request.
    pub fn word(self) -> &'static str {
        match self {
            UnknownLinks::Load => "load",
            UnknownLinks::Skip => "skip",
        }
    }

    pub fn parse(word: &str) -> Option<UnknownLinks> {
        match word {
            "load" => Some(UnknownLinks::Load),
            "skip" => Some(UnknownLinks::Skip),
            _ => None,
        }
    }
}

/// Samples per unknown link.
pub type UnknownCounts = HashMap<i64, u64>;

/// Adds `more` into `into`.
pub fn add_unknown(into: &mut UnknownCounts, more: UnknownCounts) {
    if into.is_empty() {
        *into = more;
        return;
    }
    for (link, n) in more {
        *into.entry(link).or_default() += n;
    }
}

/// The `n` links with the most samples, most first (ties by link id): what a ledger keeps.
pub fn most_frequent(counts: &UnknownCounts, n: usize) -> Vec<(i64, u64)> {
    let mut all: Vec<(i64, u64)> = counts.iter().map(|(&l, &c)| (l, c)).collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_set_is_sorted_and_deduplicated() {
        let set = LinkSet::new(vec![5, 1, 5, 3]);
        assert_eq!((set.len(), set.contains(3), set.contains(4), set.contains(5)), (3, true, false, true));
        assert!(LinkSet::new(vec![]).is_empty());
    }

    #[test]
    fn a_network_knows_a_link_on_the_days_it_is_valid() {
        let day = |d: i64| d * 24;
        let network = Network::new(vec![
            NetworkLink { link_id: 9, valid_from: None, valid_until: None },
            NetworkLink { link_id: 4, valid_from: Some(100), valid_until: Some(102) },
            NetworkLink { link_id: 7, valid_from: None, valid_until: Some(100) },
            NetworkLink { link_id: 8, valid_from: Some(100), valid_until: None },
        ]);
        assert_eq!(network.len(), 4);
        assert!(network.knows(9, day(-5)) && network.knows(9, day(20_000)));
        assert!(!network.knows(5, day(100)));
        // From its first day's first hour to its last day's last hour, and not an hour beyond.
        assert!(!network.knows(4, day(100) - 1));
        assert!(network.knows(4, day(100)) && network.knows(4, day(102) - 1));
        assert!(!network.knows(4, day(102)));
        assert!(network.knows(7, day(100) - 1) && !network.knows(7, day(100)));
        assert!(!network.knows(8, day(100) - 1) && network.knows(8, day(100)));
        // Days before 1970 are whole days too.
        let old = Network::new(vec![NetworkLink { link_id: 1, valid_from: Some(-1), valid_until: Some(0) }]);
        assert!(old.knows(1, -1) && old.knows(1, -24) && !old.knows(1, -25) && !old.knows(1, 0));
    }

    #[test]
    fn a_look_up_near_the_last_one_answers_as_a_binary_search_does() {
        // Ascending runs (a file's slots), repeats, descents, ids outside the list, an empty list.
        let listed: Vec<i64> = (0..400).map(|i| i * 3 + (i % 7)).collect();
        let set = LinkSet::new(listed.clone());
        let network = Network::new(
            listed
                .iter()
                .map(|&l| NetworkLink { link_id: l, valid_from: (l % 5 == 0).then_some(10), valid_until: None })
                .collect(),
        );
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut queries: Vec<i64> = Vec::new();
        for _ in 0..3 {
            queries.extend(-2..1300);
        }
        for _ in 0..5000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            queries.push((state % 1400) as i64 - 50);
        }
        queries.extend((0..1300).rev());
        let (mut in_set, mut in_network) = (0, 0);
        for &q in &queries {
            assert_eq!(set.contains_near(q, &mut in_set), set.contains(q), "{q}");
            for hour in [9 * 24, 10 * 24] {
                assert_eq!(network.knows_near(q, hour, &mut in_network), network.knows(q, hour), "{q} at {hour}");
            }
        }
        let empty = LinkSet::new(vec![]);
        let mut at = 0;
        assert!(!empty.contains_near(1, &mut at) && !empty.contains_near(-1, &mut at));
    }

    #[test]
    fn the_most_frequent_unknown_links_come_first() {
        let mut counts = UnknownCounts::new();
        add_unknown(&mut counts, UnknownCounts::from([(3, 5), (1, 7)]));
        add_unknown(&mut counts, UnknownCounts::from([(3, 2), (2, 1), (4, 7)]));
        assert_eq!(most_frequent(&counts, 10), vec![(1, 7), (3, 7), (4, 7), (2, 1)]);
        assert_eq!(most_frequent(&counts, 2), vec![(1, 7), (3, 7)]);
        assert_eq!(UnknownLinks::parse("skip"), Some(UnknownLinks::Skip));
        assert_eq!(UnknownLinks::parse("drop"), None);
    }
}
