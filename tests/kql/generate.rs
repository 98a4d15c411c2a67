//! Deterministic random workspaces, seeded into a fresh simulator through its public seeding API.
//! No external crate: a xorshift64* generator with fixed seeds, so a failing seed reproduces.

use std::time::Duration;

use azure_sim::{AlertSeed, AnalystEdit, AzureSim, IncidentSeed, Owner, SimConfig};
use chrono::Utc;

/// xorshift64* (Vigna); good enough to pick shapes, and fully reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 once, so small consecutive seeds start far apart (and never at 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

/// Lookback windows tried, in days.
pub const LOOKBACKS: [u32; 4] = [1, 7, 30, 90];

/// Labels seeded on incidents: this tool's three (the query matches them exactly, by regex),
/// a near miss the match must tell apart, and plain ones. (A label spelled with other separators,
/// such as "dfc sync closed", is left out: Kusto's term matching may count it and duckdb-kql does
/// not; the engine checks labels exactly over REST, so such a match costs one read and no harm.)
const LABELS: [&str; 6] = [
    "label-0",
    "dfc-sync-closed",
    "dfc-sync-activated",
    "dfc-sync-reopened",
    "xdfc-sync-closed",
    "label-1",
];
/// Ages of seeded rows, in hours. Every one is at least 12 h away from every lookback boundary
/// (24, 168, 720, 2160 h) so the few milliseconds between the simulator's `now` and the oracle's
/// cannot move a row across the window edge.
const AGES_HOURS: [i64; 12] = [1, 5, 12, 60, 156, 180, 500, 708, 732, 1500, 2148, 9600];

pub const ALERT_STATUSES: [&str; 5] = ["New", "InProgress", "Resolved", "Dismissed", "Unknown"];
pub const INCIDENT_STATUSES: [&str; 3] = ["New", "Active", "Closed"];
/// Both Defender for Cloud names, other products, and a wrong-case DfC name (KQL `in` is
/// case-sensitive).
pub const PRODUCTS: [&str; 6] = [
    "Azure Security Center",
    "Microsoft Defender for Cloud",
    "Azure Security Center",
    "Azure Sentinel",
    "Microsoft Defender XDR",
    "azure security center",
];

fn owner(rng: &mut Rng) -> Owner {
    let n = rng.range(1, 3);
    Owner {
        object_id: format!("00000000-0000-0000-0000-00000000000{n}"),
        email: format!("analyst{n}@contoso.example"),
        user_principal_name: format!("analyst{n}@contoso.example"),
        assigned_to: format!("Analyst {n}"),
    }
}

/// Waits until the wall clock has moved on by a few microseconds, so consecutive changes to one
/// incident or alert never share a `TimeGenerated` (arg_max over a tie is unspecified in Kusto,
/// and DuckDB and the simulator would be free to disagree).
fn tick() {
    let start = Utc::now();
    while Utc::now() - start < chrono::Duration::microseconds(3) {
        std::hint::spin_loop();
    }
}

/// What was generated, for reports (printed with `Debug` when a case fails).
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Generated {
    pub seed: u64,
    pub lookback_days: u32,
    pub ingestion_delay: Duration,
    pub incidents: usize,
    pub alerts: usize,
}

/// Simulator configuration for `seed`: sometimes a 10 minute ingestion delay, so the history rows
/// written "now" stay invisible to queries.
pub fn config(seed: u64) -> SimConfig {
    let mut rng = Rng::new(seed ^ 0xC0FF_EE00);
    SimConfig {
        ingestion_delay: if rng.chance(25) {
            Duration::from_secs(600)
        } else {
            Duration::ZERO
        },
        ..SimConfig::default()
    }
}

/// Seeds a random workspace into `sim`.
pub fn populate(sim: &AzureSim, seed: u64) -> Generated {
    let mut rng = Rng::new(seed);
    let lookback_days = *rng.pick(&LOOKBACKS);
    let n_incidents = rng.range(0, 7);
    let mut all_alerts: Vec<String> = Vec::new();
    let mut incidents: Vec<String> = Vec::new();
    for _ in 0..n_incidents {
        let n_alerts = rng.range(1, 4);
        let mut ids = Vec::new();
        for _ in 0..n_alerts {
            if !all_alerts.is_empty() && rng.chance(8) {
                // An alert shared with an earlier incident.
                let shared = rng.pick(&all_alerts).clone();
                if !ids.contains(&shared) {
                    ids.push(shared);
                }
                continue;
            }
            if rng.chance(6) {
                // An id with no SecurityAlert row at all (left outer join finds nothing).
                ids.push(uuid::Uuid::from_u64_pair(seed, rng.next_u64()).to_string());
                continue;
            }
            let id = sim.add_alert(AlertSeed {
                status: rng.pick(&ALERT_STATUSES).to_string(),
                product_name: rng.pick(&PRODUCTS).to_string(),
                display_name: "Generated alert".into(),
                last_changed_ago: chrono::Duration::hours(*rng.pick(&AGES_HOURS)),
            });
            tick();
            all_alerts.push(id.clone());
            ids.push(id);
        }
        let status = rng.pick(&INCIDENT_STATUSES).to_string();
        let closed = status == "Closed";
        let seed_incident = IncidentSeed {
            title: "Generated incident".into(),
            status,
            owner: if rng.chance(40) { Some(owner(&mut rng)) } else { None },
            labels: {
                let mut labels: Vec<String> = (0..rng.range(0, 2)).map(|_| rng.pick(&LABELS).to_string()).collect();
                // Most closed incidents of a workspace this tool serves were closed by it: the
                // ones a reactivated alert may reopen.
                if closed && rng.chance(50) && !labels.iter().any(|l| l == "dfc-sync-closed") {
                    labels.push("dfc-sync-closed".into());
                }
                labels
            },
            alert_ids: ids,
            last_modified_ago: chrono::Duration::hours(*rng.pick(&AGES_HOURS)),
            classification: closed.then(|| "BenignPositive".to_string()),
            classification_reason: closed.then(|| "SuspiciousButExpected".to_string()),
            ..IncidentSeed::default()
        };
        // Some incidents come from Defender XDR (a workspace in the Defender portal).
        let name = if rng.chance(30) {
            sim.add_xdr_incident(seed_incident)
        } else {
            sim.add_incident(seed_incident)
        };
        tick();
        incidents.push(name);
    }
    // History: later rows for alerts (Defender for Cloud changes) and incidents (portal edits),
    // interleaved; each is written "now".
    let changes = if all_alerts.is_empty() && incidents.is_empty() {
        0
    } else {
        rng.range(0, 12)
    };
    for _ in 0..changes {
        if !all_alerts.is_empty() && (incidents.is_empty() || rng.chance(55)) {
            let id = rng.pick(&all_alerts).clone();
            let status = *rng.pick(&ALERT_STATUSES);
            sim.set_alert_status(&id, status);
        } else {
            let name = rng.pick(&incidents).clone();
            let status = rng.chance(60).then(|| rng.pick(&INCIDENT_STATUSES).to_string());
            let classification = (status.as_deref() == Some("Closed"))
                .then(|| ("TruePositive".to_string(), Some("SuspiciousActivity".to_string())));
            let edit_owner = if rng.chance(30) {
                Some(if rng.chance(50) { Some(owner(&mut rng)) } else { None })
            } else {
                None
            };
            let add_labels = if rng.chance(30) {
                vec![format!("edit-{}", rng.range(0, 9))]
            } else {
                Vec::new()
            };
            sim.analyst_edit(
                &name,
                AnalystEdit {
                    status,
                    owner: edit_owner,
                    add_labels,
                    classification,
                    ..AnalystEdit::default()
                },
            );
        }
        tick();
    }
    Generated {
        seed,
        lookback_days,
        ingestion_delay: config(seed).ingestion_delay,
        incidents: incidents.len(),
        alerts: all_alerts.len(),
    }
}
