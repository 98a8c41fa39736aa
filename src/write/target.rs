//! A target: the hourly view users query and the storage table of six-hour rows behind it
//! (`src/sql/target.sql` creates them).

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::error::{spi_error, IngestError, Result};

pub struct Target {
    /// The hourly view: runs, the ledger and coverage are keyed by it.
    pub oid: pg_sys::Oid,
    /// Its schema-qualified, quoted name.
    pub name: String,
    /// The partitioned table of block rows.
    pub storage: pg_sys::Oid,
    pub storage_name: String,
    /// For storage distributed by Citus: its colocated stage table.
    pub distributed: Option<Stage>,
    /// The daily rollup table (`src/sql/rollup.sql`).
    pub days: Option<pg_sys::Oid>,
}

/// The stage of a distributed target (`vs_ingest.stage_of`).
pub struct Stage {
    pub oid: pg_sys::Oid,
    pub name: String,
}

/// Opens the target `target` (schema-qualified), creating it for local days of `time_zone` unless
/// it exists; an existing one must store days of that zone.
pub fn ensure(target: &str, time_zone: &str) -> Result<Target> {
    lock_existing(target)?;
    let (view, storage) = Spi::get_two_with_args::<pg_sys::Oid, pg_sys::Oid>(
        "SELECT hourly::oid, storage::oid FROM vs_ingest.ensure_target($1, $2)",
        &[target.into(), time_zone.into()],
    )
    .map_err(spi_error)?;
    let (oid, storage) = (view.expect("ensure_target returns a view"), storage.expect("and its storage"));
    let name = qualified_name(oid)?;
    let storage_name = qualified_name(storage)?;
    let (distributed, stage) = Spi::get_two_with_args::<bool, pg_sys::Oid>(
        "SELECT vs_ingest.is_distributed($1), vs_ingest.stage_of($1)::oid",
        &[regclass(storage)],
    )
    .map_err(spi_error)?;
    let distributed = match (distributed.unwrap_or(false), stage) {
        (false, _) => None,
        (true, Some(stage)) => {
            let stage = Stage { oid: stage, name: qualified_name(stage)? };
            check_stage(&stage, storage, &storage_name, &name)?;
            Some(stage)
        }
        (true, None) => {
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                message: format!(
                    "{storage_name} is distributed by Citus, but not by vs_ingest: its stage table is missing"
                ),
                detail: None,
                hint: Some(format!("SELECT vs_ingest_create_target('{name}', distributed => true) creates it.")),
            })
        }
    };
    Ok(Target { oid, name, storage, storage_name, distributed, days: None })
}

impl Target {
    /// Finds (creating if needed) the target's daily rollups (`vs_ingest.ensure_rollups`); a
    /// distributed target's are made on the Citus coordinator and found on the worker nodes.
    ///
    /// Until `ALTER EXTENSION vs_ingest UPDATE` has run after a new build was installed, the
    /// extension's SQL is the older version's, without rollups: loads then write none, and the
    /// update builds them from the rows stored meanwhile.
    pub fn open_rollups(&mut self) -> Result<()> {
        let updated =
            Spi::get_one::<bool>("SELECT to_regprocedure('vs_ingest.ensure_rollups(regclass, regclass)') IS NOT NULL")
                .map_err(spi_error)?
                .unwrap_or(false);
        if updated {
            self.days = Spi::get_one_with_args::<pg_sys::Oid>(
                "SELECT vs_ingest.ensure_rollups($1, $2)::oid",
                &[regclass(self.oid), regclass(self.storage)],
            )
            .map_err(spi_error)?;
        }
        let Some(days) = self.days else { return Ok(()) };
        // The load adds to and rebuilds the rollups, daily and monthly: rows are inserted, updated
        // and deleted. The ones it may not write, daily first.
        let lacking = Spi::get_one_with_args::<Vec<String>>(
            "SELECT coalesce(array_agg(format('%I.%I', n.nspname, c.relname) ORDER BY v.i), '{}')
               FROM (VALUES (1, $1::regclass), (2, vs_ingest.months_of($1))) v(i, r)
               JOIN pg_class c ON c.oid = v.r JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT (has_table_privilege(v.r, 'SELECT, INSERT, UPDATE, DELETE') AND NOT row_security_active(v.r))",
            &[regclass(days)],
        )
        .map_err(spi_error)?
        .unwrap_or_default();
        if let Some(first) = lacking.first() {
            let kind = if *first == qualified_name(days)? { "daily" } else { "monthly" };
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                message: format!("permission denied to keep the {kind} rollups {first} of {}", self.name),
                detail: Some(
                    "A load writes a target's rollups with its rows: it needs SELECT, INSERT, UPDATE and DELETE on \
                     them, without row-level security."
                        .into(),
                ),
                hint: Some(format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON {} to the loading role.",
                    lacking.join(", ")
                )),
            });
        }
        Ok(())
    }
}

/// Takes ACCESS SHARE on the relation named `target` if one exists, the way Postgres resolves a
/// name it is about to use (`RangeVarGetRelidExtended`: it waits for a DROP or rename in flight,
/// then resolves the name again), so a target dropped while a load starts is either gone (and made
/// anew) or kept until this transaction ends. No privilege is needed: nothing is read.
fn lock_existing(target: &str) -> Result<()> {
    let name = std::ffi::CString::new(target).map_err(|_| IngestError::BadTarget(target.to_string()))?;
    // SAFETY: Postgres' own name resolution on the main thread inside a transaction; `target` is
    // a name qualify_target produced (a schema and a relation).
    unsafe {
        let names = pg_sys::stringToQualifiedNameList(name.as_ptr());
        let range_var = pg_sys::makeRangeVarFromNameList(names);
        pg_sys::RangeVarGetRelidExtended(
            range_var,
            pg_sys::AccessShareLock as pg_sys::LOCKMODE,
            pg_sys::RVROption::RVR_MISSING_OK,
            None,
            std::ptr::null_mut(),
        );
    }
    Ok(())
}

/// Refuses (42P07) a stage that is not the storage's (`vs_ingest.is_stage_of`: a distributed
/// table of the storage's columns and owner, with no code of another role).
pub fn check_stage(stage: &Stage, storage: pg_sys::Oid, storage_name: &str, target_name: &str) -> Result<()> {
    let ours = Spi::get_one_with_args::<bool>(
        "SELECT vs_ingest.is_stage_of($1, $2)",
        &[regclass(stage.oid), regclass(storage)],
    )
    .map_err(spi_error)?
    .unwrap_or(false);
    if ours {
        return Ok(());
    }
    Err(IngestError::Postgres {
        code: PgSqlErrorCode::ERRCODE_DUPLICATE_TABLE,
        message: format!("{} is not the stage of {storage_name}", stage.name),
        detail: Some("A stage is a distributed table of the storage's columns and owner, without triggers.".into()),
        hint: Some(format!(
            "Drop or rename {}, then SELECT vs_ingest_create_target('{target_name}', distributed => true).",
            stage.name
        )),
    })
}

/// Distributes the target with Citus (see `vs_ingest.distribute_target`).
pub fn distribute(target: &Target, shard_count: Option<i32>) -> Result<()> {
    Spi::run_with_args("SELECT vs_ingest.distribute_target($1, $2)", &[regclass(target.oid), shard_count.into()])
        .map_err(spi_error)
}

pub fn regclass(oid: pg_sys::Oid) -> pgrx::datum::DatumWithOid<'static> {
    // SAFETY: an oid datum typed as regclass.
    unsafe { pgrx::datum::DatumWithOid::new(oid, pg_sys::REGCLASSOID) }
}

impl Target {
    /// Makes (or finds) the partitions of local day `date` of the storage and, if the target
    /// keeps them, of its rollups.
    pub fn ensure_day_partitions(&self, date: &str) -> Result<()> {
        for table in std::iter::once(self.storage).chain(self.days) {
            Spi::run_with_args("SELECT vs_ingest.ensure_day_partition($1, $2::date)", &[regclass(table), date.into()])
                .map_err(spi_error)?;
        }
        Ok(())
    }

    /// Whether local day `date` has rows stored before the target kept rollups (the update from
    /// 0.2.0 made its rollup table without partitions): its rollups are to be built whole from
    /// them. Asked before the day's partitions are made.
    pub fn rollups_to_build(&self, date: &str) -> Result<bool> {
        let Some(days) = self.days else { return Ok(false) };
        Spi::get_one_with_args::<bool>(
            "SELECT vs_ingest.day_partition($1, $3::date) IS NOT NULL AND vs_ingest.day_partition($2, $3::date) IS NULL",
            &[regclass(self.storage), regclass(days), date.into()],
        )
        .map_err(spi_error)
        .map(|to_build| to_build.unwrap_or(false))
    }

    /// What COPY FROM checks on the storage table: INSERT on every column written (a table-level
    /// grant covers all), and no row-level security that applies to the role (COPY would bypass
    /// the INSERT policies).
    pub fn check_may_load(&self) -> Result<()> {
        let may_insert = Spi::get_one_with_args::<bool>(
            "SELECT bool_and(has_column_privilege($1, a.attnum, 'INSERT'))
               FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
            &[self.storage.into()],
        )
        .map_err(spi_error)?
        .unwrap_or(false);
        if !may_insert {
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                message: format!("permission denied to insert into table {}", self.storage_name),
                detail: None,
                hint: Some(format!(
                    "GRANT INSERT on {}, the storage of {} (or on each of its columns), to the loading role, or \
                     pick another target.",
                    self.storage_name, self.name
                )),
            });
        }
        if let Some(stage) = &self.distributed {
            // The distributed write path also reads and merges (docs/citus.md).
            let may = Spi::get_one_with_args::<bool>(
                "SELECT has_table_privilege($1, 'SELECT, UPDATE') AND has_table_privilege($2, 'INSERT, SELECT, DELETE')",
                &[self.storage.into(), stage.oid.into()],
            )
            .map_err(spi_error)?
            .unwrap_or(false);
            if !may {
                return Err(IngestError::Postgres {
                    code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                    message: format!("permission denied to load the distributed target {}", self.name),
                    detail: Some(format!(
                        "Loading it needs SELECT, INSERT and UPDATE on {} and INSERT, SELECT and DELETE on {}.",
                        self.storage_name, stage.name
                    )),
                    hint: Some("Load as the target's owner, or grant those privileges to the loading role.".into()),
                });
            }
        }
        let rls = Spi::get_one_with_args::<bool>("SELECT row_security_active($1)", &[self.storage.into()])
            .map_err(spi_error)?
            .unwrap_or(false);
        if rls {
            return Err(IngestError::Postgres {
                code: PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                message: format!(
                    "table {} has row-level security, which vs_ingest's COPY would bypass",
                    self.storage_name
                ),
                detail: None,
                hint: Some(
                    "Load as a role that bypasses row-level security (the table's owner, or BYPASSRLS), or into \
                     another target."
                        .into(),
                ),
            });
        }
        Ok(())
    }
}

/// The schema-qualified, quoted name of a relation.
pub fn qualified_name(oid: pg_sys::Oid) -> Result<String> {
    Spi::get_one_with_args::<String>(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = $1",
        &[oid.into()],
    )
    .map_err(spi_error)
    .map(|n| n.expect("a relation has a name"))
}
