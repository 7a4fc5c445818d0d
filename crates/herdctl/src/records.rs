//! `herdctl records NODE`: every record a node holds, fetched page by page.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herd_admin::RecordEntry;
use herd_admin::client::{AdminClient, ClientError};
use serde_json::json;

use crate::Failure;
use crate::herd::Herd;

const LIMIT: Duration = Duration::from_secs(10);

pub async fn run(herd: &Herd, node: &str, json: bool, prefix: Option<&str>) -> Result<(), Failure> {
    let spec = herd.node(node)?;
    let fail = |err: ClientError| Failure::failed(format!("{node}: {err}"));
    // LIMIT bounds connecting, and then each page.
    let mut client = AdminClient::connect(herd.admin_options(spec, LIMIT))
        .await
        .map_err(fail)?;
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client
            .records(prefix, after.as_deref(), None)
            .await
            .map_err(fail)?;
        records.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    if json {
        let out = json!({ "node": node, "count": records.len(), "records": records });
        crate::say(out);
    } else {
        crate::say(table(&records).trim_end());
    }
    Ok(())
}

fn table(records: &[RecordEntry]) -> String {
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let width = records
        .iter()
        .map(|r| r.client.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:width$}  {:24}  {:22}  {:12}  AGE\n",
        "CLIENT", "POSITION", "CLIENT TIME", "RECEIVED BY"
    );
    for record in records {
        let age = Duration::from_secs(now_us.saturating_sub(record.received_us) / 1_000_000);
        out.push_str(&format!(
            "{:width$}  {:24}  {:22}  {:12}  {}\n",
            record.client,
            record.position,
            record.client_time,
            record.received_by,
            humantime::format_duration(age)
        ));
    }
    out.push_str(&format!("{} records\n", records.len()));
    out
}
