//! The human-readable run summary. Ids only: the summary may be pasted into a ticket.

use sync_core::report::{RunReport, SyncMode};
use sync_core::TenantSettings;

/// How many per-employee lines a summary shows before it only counts.
pub const SHOWN_ACTIONS: usize = 40;

pub fn summary(report: &RunReport, settings: &TenantSettings, shown: usize) -> String {
    let mut out = String::new();
    let mode = match report.mode {
        SyncMode::Full => "full",
        SyncMode::Delta => "delta",
        SyncMode::Reconcile => "reconcile",
    };
    let dry = if report.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    out.push_str(&format!(
        "{mode} sync of {} on {} (invite policy {}){dry}\n",
        report.tenant, report.today, settings.invite_policy
    ));
    let c = &report.counts;
    out.push_str(&format!(
        "  created {}, adopted {}, updated {}, deactivated {}, reactivated {}, unchanged {}, deferred {}, failed {}\n",
        c.created, c.adopted, c.updated, c.deactivated, c.reactivated, c.unchanged, c.deferred, c.failed
    ));
    out.push_str(&format!(
        "  teams: {} created, {} renamed, {} failed\n",
        report.teams.created, report.teams.renamed, report.teams.failed
    ));
    let kombo: u64 = report.api_calls.kombo.values().sum();
    out.push_str(&format!(
        "  API calls: Kombo {kombo}, Learn Amp {} ({} writes) in {} ms\n",
        report.api_calls.learnamp_total(),
        report.api_calls.learnamp_writes(),
        report.duration_ms
    ));
    if let Some(reason) = &report.halted {
        out.push_str(&format!("  HALTED: {reason}\n"));
    }
    if let Some(s) = &report.stopped {
        out.push_str(&format!(
            "  STOPPED by {}: {} applied, {} not started (run again to finish)\n",
            s.reason, s.applied, s.not_started
        ));
    }
    for action in report.actions.iter().take(shown) {
        let user = action
            .learnamp_user_id
            .map(|id| format!("user {id}"))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "    {:<10} {:<26} {:<10} {}\n",
            action.action.as_str(),
            action.employee_id,
            user,
            action.detail
        ));
    }
    if report.actions.len() > shown {
        out.push_str(&format!(
            "    ... and {} more (use --report json for all)\n",
            report.actions.len() - shown
        ));
    }
    for note in &report.notes {
        out.push_str(&format!(
            "    note       {:<26} {}\n",
            note.employee_id, note.detail
        ));
    }
    out
}

pub fn print_summary(report: &RunReport, settings: &TenantSettings, shown: usize) {
    print!("{}", summary(report, settings, shown));
}
