//! Slot-wise merge functions used when rows meet rows already in the table (first sample wins).
//! A slot is filled when its speed is not NULL; a travel time travels with its speed.

use pgrx::prelude::*;

/// Number of slots empty in `old` and filled in `new`.
#[pg_extern(immutable, strict, parallel_safe)]
fn slots_to_fill(old: Vec<Option<f32>>, new: Vec<Option<f32>>) -> i32 {
    old.iter().zip(&new).filter(|(o, n)| o.is_none() && n.is_some()).count() as i32
}

/// `old`, with the slots it lacks taken from `new`.
#[pg_extern(immutable, strict, parallel_safe)]
fn merge_speed(old: Vec<Option<f32>>, new: Vec<Option<f32>>) -> Vec<Option<f32>> {
    old.iter().zip(&new).map(|(o, n)| o.or(*n)).collect()
}

/// Travel times following the speeds: a slot keeps its old travel time when it had a speed.
#[pg_extern(immutable, strict, parallel_safe)]
fn merge_travel_time(
    old_speed: Vec<Option<f32>>,
    old_travel_time: Vec<Option<i32>>,
    new_speed: Vec<Option<f32>>,
    new_travel_time: Vec<Option<i32>>,
) -> Vec<Option<i32>> {
    (0..old_speed.len())
        .map(|i| match (old_speed[i], new_speed.get(i).copied().flatten()) {
            (Some(_), _) => old_travel_time.get(i).copied().flatten(),
            (None, Some(_)) => new_travel_time.get(i).copied().flatten(),
            (None, None) => None,
        })
        .collect()
}
