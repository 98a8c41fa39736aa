//! Loads spread over the worker nodes of a Citus cluster: `vs_ingest_dir(..., nodes => 'workers')`
//! on the coordinator, into a target distributed by `vs_ingest_create_target(..., distributed =>
//! true)`.
//!
//! The coordinator's run does not load: its one worker
//! 1. gives each file to a worker node: the node that had it in an earlier run of the target if
//!    that node is still active (its ledger then resumes the file from its last committed chunk,
//!    or skips it if it loaded it), else the node that has other files of its day, else the node
//!    with the fewest files of this run;
//! 2. creates the day partitions (of the storage and the rollups) and calendar days the files
//!    need here (Citus runs DDL on distributed tables from the coordinator only);
//! 3. starts one load per node there (`vs_ingest.load_files`, through Citus's
//!    `master_run_on_worker`, as the same role): each node's workers write through Citus into the
//!    shards, every chunk committed with that node's ledger row under two-phase commit;
//! 4. mirrors the nodes' ledgers into its own file rows (so `vs_ingest.file` and
//!    `vs_ingest.progress` here show every node, with a `node` column) until every node is done,
//!    then recounts the coverage of the days loaded from the table itself.
//!
//! A file is loaded once across nodes because it goes to one node at a time, and that node's
//! ledger and file lock decide as in a single-node load. A node whose loading process is killed or
//! that restarts leaves its files failed here ("interrupted"); the same call again gives them to
//! the same node, which continues them.

use std::time::{Duration, Instant};

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use serde::Deserialize;

use crate::error::{spi_error, IngestError, Result};
use crate::postgres::access;
use crate::postgres::catalog;
use crate::postgres::transaction::in_transaction;
use crate::worker::request::Request;
use crate::write::{coverage, target};

/// How long a node may stay unreachable (restarting, say) before its unfinished files are
/// given up as failed for this run.
const NODE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the nodes' ledgers are read.
const POLL: Duration = Duration::from_millis(250);

/// What the caller checks before a load is spread: Citus on this node, which must be the
/// coordinator, and a target already distributed by vs_ingest.
pub fn check_spread(target_name: &str) -> Result<()> {
    let refuse = |message: String, hint: &str| {
        Err(IngestError::Postgres {
            code: PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            message,
            detail: None,
            hint: Some(hint.into()),
        })
    };
    let citus = Spi::get_one::<bool>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')")
        .map_err(spi_error)?
        .unwrap_or(false);
    // (Named only once Citus is known to be there: the call would not parse without it.)
    let coordinator =
        citus && Spi::get_one::<bool>("SELECT pg_catalog.citus_is_coordinator()").map_err(spi_error)?.unwrap_or(false);
    if !coordinator {
        return refuse(
            "nodes => 'workers' spreads a load over the worker nodes of a Citus cluster, and this is not its \
             coordinator"
                .into(),
            "Run it on the coordinator of a Citus cluster, or load here with nodes => 'local'.",
        );
    }
    let distributed = Spi::get_one_with_args::<bool>(
        "SELECT vs_ingest.is_distributed(vs_ingest.storage_of(to_regclass($1)))",
        &[target_name.into()],
    )
    .map_err(spi_error)?
    .unwrap_or(false);
    if !distributed {
        return refuse(
            format!("target {target_name} is not distributed, so it cannot be loaded from the worker nodes"),
            "Create it with SELECT vs_ingest_create_target(target, distributed => true) first.",
        );
    }
    Ok(())
}

/// One node's share of the run.
struct NodeLoad {
    node: String,
    host: String,
    port: i32,
    paths: Vec<String>,
    /// The run on that node, once started.
    run: Option<i64>,
    finished: bool,
    unreachable_since: Option<Instant>,
}

/// Runs the coordinator's side of a spread load (in the run's worker); the run is finished here.
pub fn dispatch(run_id: i64, request: &Request) {
    if let Err(e) = follow(run_id, request) {
        let message = format!("the spread load stopped: {e}");
        let _ = in_transaction(|| catalog::fail_node_files(run_id, None, &message));
    }
    let _ = in_transaction(|| catalog::finish_run_if_done(run_id));
}

fn follow(run_id: i64, request: &Request) -> Result<()> {
    let (mut loads, days) = in_transaction(|| assign(run_id, request))?;
    let followed = (|| -> Result<()> {
        for load in &mut loads {
            start(run_id, request, load)?;
        }
        let mut cancel_sent = false;
        while loads.iter().any(|l| !l.finished) {
            check_for_interrupts!();
            if crate::worker::stop_requested() && !cancel_sent {
                cancel_sent = true;
                cancel_nodes(&loads);
            }
            for load in loads.iter_mut().filter(|l| !l.finished) {
                poll(run_id, load)?;
            }
            crate::load::sleep(POLL);
        }
        Ok(())
    })();
    if followed.is_err() {
        // The run here ends; the nodes' loads must not go on unfollowed.
        cancel_nodes(&loads);
    }
    followed?;
    // Coverage here is counted from the distributed table itself, for every day loaded.
    in_transaction(|| {
        let view = target::ensure(&request.target, &request.source_timezone)?;
        for day in &days {
            coverage::recount_day(&view, &request.source_timezone, day)?;
        }
        Ok(())
    })?;
    let _ = in_transaction(coverage::analyze_calendar);
    Ok(())
}

/// Step 1 and 2: nodes for the files, partitions and calendar days for their days.
fn assign(run_id: i64, request: &Request) -> Result<(Vec<NodeLoad>, Vec<String>)> {
    let mut view = target::ensure(&request.target, &request.source_timezone)?;
    // Its rollup tables are made here too: the nodes' loads write them, and find them.
    view.open_rollups()?;
    let nodes: Vec<(String, i32)> = Spi::connect(|client| {
        client
            .select(
                "SELECT node_name, node_port::int FROM pg_catalog.citus_get_active_worker_nodes() ORDER BY 1, 2",
                None,
                &[],
            )?
            .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<i32>(2)?.unwrap_or_default())))
            .collect::<std::result::Result<Vec<_>, pgrx::spi::Error>>()
    })
    .map_err(spi_error)?;
    if nodes.is_empty() {
        return Err(IngestError::Postgres {
            code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            message: "the Citus cluster has no active worker node to load on".into(),
            detail: None,
            hint: Some("Add one with citus_add_node, or load on the coordinator with nodes => 'local'.".into()),
        });
    }
    let mut loads: Vec<NodeLoad> = nodes
        .iter()
        .map(|(host, port)| NodeLoad {
            node: format!("{host}:{port}"),
            host: host.clone(),
            port: *port,
            paths: Vec::new(),
            run: None,
            finished: false,
            unreachable_since: None,
        })
        .collect();
    // A file goes where it went before (that node's ledger resumes or skips it); a day's other
    // files go where its latest file went, so a day's blocks are written on one node, whose
    // block locks make its writers take turns.
    let format = vs_ingest_engine::format::lookup(&request.format).expect("the caller checked the format");
    // The local day a file holds, from its name (rows of other days are rejected by the parser).
    let file_day = |path: &str| format.file_date(path).map(|d| d.to_string());
    let position = |node: &str, loads: &[NodeLoad]| loads.iter().position(|l| l.node == node);
    let mut file_node = std::collections::HashMap::new();
    let mut day_node: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Latest first: a day goes where its latest file went.
    for (path, node) in catalog::earlier_nodes(view.oid)? {
        if let Some(at) = position(&node, &loads) {
            if let Some(day) = file_day(&path) {
                day_node.entry(day).or_insert(at);
            }
            file_node.entry(path).or_insert(at);
        }
    }
    let mut days = std::collections::BTreeSet::new();
    for (file_id, path) in catalog::unfinished_files(run_id)? {
        let Some(day) = file_day(&path) else {
            catalog::finish_file(
                file_id,
                "failed",
                Some(
                    "its name carries no date (YYYYMMDD...): a load on the worker nodes needs a file's day to create \
                     its partition on the coordinator first; load it with nodes => 'local'",
                ),
            )?;
            continue;
        };
        let at =
            file_node.get(&path).copied().or_else(|| day_node.get(&day).copied()).unwrap_or_else(|| {
                (0..loads.len()).min_by_key(|&i| (loads[i].paths.len(), i)).expect("at least one node")
            });
        catalog::set_node(file_id, &loads[at].node)?;
        loads[at].paths.push(path.clone());
        day_node.entry(day.clone()).or_insert(at);
        days.insert(day);
    }
    for day in &days {
        // A day stored before the target kept rollups is built here from its stored rows, before
        // the nodes add to it.
        let to_build = view.rollups_to_build(day)?;
        view.ensure_day_partitions(day)?;
        if let (true, Some(rollups)) = (to_build, view.days) {
            Spi::run_with_args(
                "SELECT vs_ingest.rebuild_days($1, $2, $3::date, NULL)",
                &[target::regclass(view.storage), target::regclass(rollups), day.clone().into()],
            )
            .map_err(spi_error)?;
        }
        coverage::fill_calendar(&request.source_timezone, day)?;
    }
    loads.retain(|l| !l.paths.is_empty());
    Ok((loads, days.into_iter().collect()))
}

/// Step 3: the node's load, started there without waiting.
fn start(run_id: i64, request: &Request, load: &mut NodeLoad) -> Result<()> {
    let command = in_transaction(|| command(request, &load.paths))?;
    match in_transaction(|| run_on(load, &command))? {
        Ok(result) => {
            let node_run = result.trim().parse::<i64>().map_err(|_| IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                message: format!("node {} answered the load with {result:?}", load.node),
                detail: None,
                hint: None,
            })?;
            load.run = Some(node_run);
            in_transaction(|| catalog::set_node_run(run_id, &load.node, node_run, &load.paths))?;
        }
        Err(error) => {
            load.finished = true;
            let message = format!("could not start the load on node {}: {error}", load.node);
            in_transaction(|| catalog::fail_node_files(run_id, Some(&load.node), &message))?;
        }
    }
    Ok(())
}

/// The SQL that starts a node's share: `vs_ingest.load_files` with the run's options, quoted.
fn command(request: &Request, paths: &[String]) -> Result<String> {
    Ok(Spi::get_one_with_args::<String>(
        "SELECT format('SELECT vs_ingest.load_files(%L, %L, %L::text[], %L, %L, %L, %s, %L)',
                       $1, $2, $3, $4, $5, $6, $7::float8, $8)",
        &[
            request.dir.clone().into(),
            request.pattern.clone().into(),
            paths.to_vec().into(),
            request.target.clone().into(),
            request.format.clone().into(),
            request.source_timezone.clone().into(),
            request.max_reject_ratio.into(),
            request.reload_changed.into(),
        ],
    )
    .map_err(spi_error)?
    .expect("format returns the command"))
}

/// Asks the nodes' unfinished loads to stop after their chunk in flight.
fn cancel_nodes(loads: &[NodeLoad]) {
    for load in loads.iter().filter(|l| !l.finished) {
        if let Some(node_run) = load.run {
            let _ = in_transaction(|| run_on(load, &format!("SELECT vs_ingest_cancel({node_run})")));
        }
    }
}

/// Runs one SQL command returning one value on the node; `Err` carries the node's error (or why it
/// could not be reached) as text.
fn run_on(load: &NodeLoad, command: &str) -> Result<std::result::Result<String, String>> {
    let (success, result) = Spi::get_two_with_args::<bool, String>(
        "SELECT success, result FROM pg_catalog.master_run_on_worker(ARRAY[$1], ARRAY[$2], ARRAY[$3], false)",
        &[load.host.clone().into(), load.port.into(), command.into()],
    )
    .map_err(spi_error)?;
    let result = result.unwrap_or_default();
    Ok(if success.unwrap_or(false) { Ok(result) } else { Err(result) })
}

/// A node's report of its run (`vs_ingest.node_run_report`).
#[derive(Deserialize)]
struct NodeReport {
    status: String,
    files: serde_json::Value,
}

/// Step 4: mirrors the node's ledger; marks the load finished once the node's run is.
fn poll(run_id: i64, load: &mut NodeLoad) -> Result<()> {
    let Some(node_run) = load.run else { return Ok(()) };
    let answer = in_transaction(|| run_on(load, &format!("SELECT vs_ingest.node_run_report({node_run})")))?;
    let report = match answer {
        Ok(json) => {
            load.unreachable_since = None;
            serde_json::from_str::<NodeReport>(&json).map_err(|e| IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                message: format!("node {} sent an unreadable report: {e}", load.node),
                detail: Some(json.chars().take(300).collect()),
                hint: None,
            })?
        }
        Err(error) => {
            let since = *load.unreachable_since.get_or_insert_with(Instant::now);
            if since.elapsed() > NODE_TIMEOUT {
                load.finished = true;
                let message =
                    format!("node {} stopped answering ({error}); the same load continues its files there", load.node);
                in_transaction(|| catalog::fail_node_files(run_id, Some(&load.node), &message))?;
            }
            return Ok(());
        }
    };
    let over = report.status != "running" && report.status != "cancelling";
    in_transaction(|| {
        catalog::mirror_node_files(run_id, &load.node, &report.files.to_string())?;
        if over {
            let message = format!(
                "interrupted on node {} (a kill, a restart or a cancel); the same load continues it there",
                load.node
            );
            catalog::fail_node_files(run_id, Some(&load.node), &message)?;
        }
        Ok(())
    })?;
    load.finished = over;
    Ok(())
}

/// `vs_ingest.node_run_report`: a run of this node as JSON for the coordinator that started it
/// (status, and each file's ledger row). A run whose workers are gone is marked failed first.
pub fn node_run_report(run_id: i64) -> Result<String> {
    access::check_role()?;
    crate::load::own_run(run_id)?;
    catalog::fail_orphaned_runs()?;
    catalog::run_report(run_id)
}
