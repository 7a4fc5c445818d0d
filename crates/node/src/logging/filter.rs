//! The log filter, changed while the node runs (admin `log`, `herdctl log
//! NODE FILTER`): tracing-subscriber's reload layer around an `EnvFilter`.

use tracing_subscriber::reload;
use tracing_subscriber::{EnvFilter, Registry};

/// Changes the filter of the log installed with it.
#[derive(Clone)]
pub struct LogFilter {
    handle: reload::Handle<EnvFilter, Registry>,
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("log filter {filter:?} is not valid: {why}")]
    Invalid { filter: String, why: String },
    #[error("the log is gone: {0}")]
    Gone(#[from] reload::Error),
}

impl LogFilter {
    /// The layer to install (first, so it filters every other), and its
    /// handle.
    pub fn new(first: EnvFilter) -> (reload::Layer<EnvFilter, Registry>, LogFilter) {
        let (layer, handle) = reload::Layer::new(first);
        (layer, LogFilter { handle })
    }

    /// Replaces the filter with `directives` (`debug`, `info,client=warn`);
    /// returns the one it replaced. A filter that does not parse changes
    /// nothing.
    pub fn set(&self, directives: &str) -> Result<String, FilterError> {
        let new = EnvFilter::try_new(directives).map_err(|err| FilterError::Invalid {
            filter: directives.to_owned(),
            why: err.to_string(),
        })?;
        let previous = self.current()?;
        self.handle.reload(new)?;
        Ok(previous)
    }

    /// The filter in force, as directives.
    pub fn current(&self) -> Result<String, FilterError> {
        Ok(self.handle.with_current(ToString::to_string)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_new_filter_applies_at_once_and_a_bad_one_changes_nothing() {
        let (layer, filter) = LogFilter::new(EnvFilter::new("info"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            assert!(!tracing::enabled!(tracing::Level::DEBUG));
            assert_eq!(filter.set("debug").ok().as_deref(), Some("info"));
            tracing::callsite::rebuild_interest_cache();
            assert!(tracing::enabled!(tracing::Level::DEBUG));
            let refused = filter.set("debug,client=loud");
            assert!(
                matches!(&refused, Err(FilterError::Invalid { filter, .. }) if filter == "debug,client=loud"),
                "{:?}",
                refused.err()
            );
            assert_eq!(filter.current().ok().as_deref(), Some("debug"));
        });
    }
}
