//! Slot-wise merge functions used when block rows meet rows already stored (first sample wins).
//! A slot is filled when its speed is not NULL; a travel time travels with its speed.

use pgrx::prelude::*;

/// Number of slots empty in `old` and filled in `new`.
#[pg_extern(immutable, strict, parallel_safe)]
fn slots_to_fill(old: Array<'_, i16>, new: Array<'_, i16>) -> i32 {
    old.iter().zip(new.iter()).filter(|(o, n)| o.is_none() && n.is_some()).count() as i32
}

/// `old`, with the slots it lacks taken from `new`.
#[pg_extern(immutable, strict, parallel_safe)]
fn merge_speed(old: Array<'_, i16>, new: Array<'_, i16>) -> Vec<Option<i16>> {
    old.iter().zip(new.iter()).map(|(o, n)| o.or(n)).collect()
}

/// Travel times following the speeds: a slot keeps its old travel time when it had a speed.
/// NULL (no travel time in any slot) stays NULL.
#[pg_extern(immutable, parallel_safe)]
fn merge_travel_time(
    old_speed: Array<'_, i16>,
    old_travel_time: Option<Array<'_, i32>>,
    new_speed: Array<'_, i16>,
    new_travel_time: Option<Array<'_, i32>>,
) -> Option<Vec<Option<i32>>> {
    let at = |a: &Option<Array<'_, i32>>, i: usize| a.as_ref().and_then(|a| a.get(i).flatten());
    let merged: Vec<Option<i32>> = old_speed
        .iter()
        .zip(new_speed.iter())
        .enumerate()
        .map(|(i, (old, new))| match (old, new) {
            (Some(_), _) => at(&old_travel_time, i),
            (None, Some(_)) => at(&new_travel_time, i),
            (None, None) => None,
        })
        .collect();
    merged.iter().any(Option::is_some).then_some(merged)
}
