//! The shared store test suite. Every test in `suite!` runs twice: `sqlite::NAME` on a fresh
//! SQLite file in a temporary directory, `postgres::NAME` on a fresh PostgreSQL database on the
//! server of `POLIS_TEST_PG_URL` (skipped when it is unset; failing instead when
//! `POLIS_REQUIRE_PG=1`). `scripts/test` starts a server and sets both.

mod alarms;
mod audit;
mod events;
mod fixtures;
mod harness;
mod incidents;
mod observations;
mod recordings;
mod registry;
mod rules;
mod schema;
mod users;
mod warnings;

/// Declares each test for both engines. `store:` tests take an opened [`polis_store::DynStore`];
/// `fresh:` tests take a [`harness::Fresh`] database to open (and re-open) themselves.
macro_rules! suite {
    (store: [$($sm:ident :: $s:ident),* $(,)?], fresh: [$($fm:ident :: $f:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            use crate::harness::{on_sqlite, with_store};
            $(#[tokio::test] async fn $s() { on_sqlite(|db| with_store(db, crate::$sm::$s)).await })*
            $(#[tokio::test] async fn $f() { on_sqlite(crate::$fm::$f).await })*
        }
        mod postgres {
            use crate::harness::{on_postgres, with_store};
            $(#[tokio::test] async fn $s() { on_postgres(|db| with_store(db, crate::$sm::$s)).await })*
            $(#[tokio::test] async fn $f() { on_postgres(crate::$fm::$f).await })*
        }
    };
}

suite! {
    store: [
        registry::organisations_round_trip_and_put_replaces,
        registry::cameras_round_trip_with_every_field_and_their_credentials,
        registry::sites_round_trip_points_polygons_and_sectors,
        registry::sensors_round_trip,
        registry::onvif_links_round_trip_and_go_with_their_camera,
        registry::lists_are_ordered_by_id_byte_order,
        registry::a_repeated_id_within_a_batch_writes_nothing,
        registry::an_id_taken_by_an_existing_row_writes_nothing,
        registry::sites_and_sensors_batches_are_all_or_nothing,
        registry::a_large_batch_with_a_taken_id_far_in_writes_nothing,
        registry::updates_replace_every_field_and_deletes_remove,
        registry::update_or_delete_of_a_missing_id_is_not_found_and_audits_nothing,
        registry::concurrent_writers_all_land,
        users::users_round_trip_and_are_found_by_username,
        users::usernames_and_user_ids_are_unique,
        users::sessions_last_until_they_expire_or_are_deleted,
        users::tickets_are_taken_once_and_expire,
        users::a_session_needs_an_existing_user,
        users::a_disabled_user_has_no_session_and_changes_are_audited,
        audit::audit_records_round_trip_newest_first_and_filter_by_municipality,
        audit::audit_sequence_numbers_grow,
        audit::the_audit_log_is_searched_by_every_filter_together,
        observations::observations_round_trip_exactly,
        observations::observation_ranges_are_half_open_ordered_and_limited,
        observations::a_redelivered_batch_is_stored_once,
        observations::a_large_batch_lands_whole,
        observations::buckets_aggregate_per_step_aligned_to_the_epoch,
        observations::buckets_before_1970_are_aligned,
        observations::latest_is_the_newest_per_sensor_and_quantity,
        observations::purge_deletes_older_observations_of_the_given_sensors,
        observations::reads_are_the_same_before_and_after_a_fold,
        observations::purged_readings_live_on_in_hourly_rollups,
        rules::every_kind_of_rule_round_trips,
        rules::rules_put_replace_list_and_delete_keeping_every_version,
        rules::a_saved_rule_version_never_changes,
        rules::concurrent_saves_of_one_version_keep_one,
        alarms::alarms_round_trip_update_and_list,
        alarms::alarms_list_newest_first_with_filters,
        alarms::one_open_alarm_per_rule_and_source_even_under_concurrency,
        alarms::several_alarms_are_written_together_or_not_at_all,
        alarms::many_racing_writers_open_one_alarm,
        incidents::incidents_round_trip_with_their_journal_in_order,
        incidents::incident_lists_filter_by_municipality_status_time_and_ids,
        incidents::procedures_keep_every_version_and_refuse_a_stale_edit,
        incidents::units_round_trip_and_update,
        incidents::an_assignment_stores_the_incident_and_its_units_in_one_transaction,
        incidents::shares_are_found_by_token_hash_and_their_uses_logged,
        incidents::attachments_round_trip_with_their_journal_line,
        incidents::sos_profiles_live_in_their_own_columns,
        recordings::segments_are_indexed_listed_by_overlap_and_deleted,
        warnings::warnings_and_their_cap_messages_round_trip,
        warnings::received_warnings_and_publications_are_replaced_by_key,
        events::kept_events_read_back_newest_last_and_prune_by_count_and_age,
    ],
    fresh: [
        schema::reopening_migrates_nothing_and_keeps_the_data,
        schema::a_database_newer_than_this_build_is_refused,
        schema::an_acknowledged_write_survives_dropping_the_store,
        schema::a_corrupt_row_is_an_internal_error_naming_it,
        schema::corrupt_live_rows_are_internal_errors_naming_them,
        schema::live_data_survives_reopening,
        schema::a_large_intake_log_is_folded_by_itself,
    ],
}

// SQLite only.

#[tokio::test]
async fn sqlite_an_acknowledged_write_survives_a_crash() {
    schema::an_acknowledged_sqlite_write_survives_a_crash().await;
}

/// Not a test by itself: the child process of the crash test (does nothing unless it is one).
#[tokio::test]
async fn crash_child() {
    if let Ok(path) = std::env::var(schema::CRASH_CHILD_ENV) {
        schema::crash_child(&path).await;
    }
}

#[tokio::test]
async fn sqlite_memory_stores_are_private_and_work() {
    harness::on_sqlite(schema::sqlite_memory_stores_are_private_and_work).await;
}

#[tokio::test]
async fn sqlite_a_url_creates_the_file() {
    harness::on_sqlite(schema::a_sqlite_url_creates_the_file).await;
}

// PostgreSQL, no server needed.

#[tokio::test]
async fn postgres_unreachable_is_unavailable_and_the_password_stays_secret() {
    schema::an_unreachable_postgres_is_unavailable_and_the_password_stays_secret().await;
}
