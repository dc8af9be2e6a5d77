//! The shared vocabulary of Autonomic's loop.
//!
//! Every stage (monitor, analyze, remedy, knowledge) speaks in these types and never in
//! another stage's internals. Nothing here performs I/O.

pub mod action;
pub mod bounds;
pub mod clock;
pub mod component;
pub mod diag;
pub mod duration;
pub mod excerpt;
pub mod health;
pub mod http;
pub mod incident;
pub mod labels;
pub mod leadership;
pub mod secret;
pub mod series;
pub mod signal;
pub mod source;
pub mod telemetry;

pub use action::{Action, MAX_UNAVAILABLE, OPENED_AT, ORIGIN, Outcome, OutcomeStatus, Params, Target};
pub use clock::{Clock, Millis, TokioClock};
pub use component::{
    Actuator, ActuatorSpec, BoxFuture, Condition, Deployment, Event, EventKind, EventSink, ParamSpec, ReplicaState,
    ReplicaStatus, RolloutStatus, ServiceStatus, StepProblem, VerbSpec,
};
pub use diag::{Diagnostic, Diagnostics};
pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use excerpt::{EXCERPT_CHARS, Excerpt, MESSAGE_CHARS, excerpt, excerpt_to};
pub use health::Health;
pub use http::{HttpRequest, HttpResponse, Role, Route};
pub use incident::{Incident, IncidentId, IncidentState, SignalKeys};
pub use labels::{Labels, METRIC_NAME, valid_label_name, valid_metric_name};
pub use leadership::Leadership;
pub use secret::Secret;
pub use series::{
    AllSeries, Appended, ByName, Origin, STALE_NAN, Sample, SampleSink, SeriesData, SeriesReader, SeriesRef,
    SeriesSelector, SeriesWriter, is_stale,
};
pub use signal::{Signal, SignalBoard, SignalKind, SignalState};
pub use source::{SignalSink, Source, SourceContext};
pub use telemetry::SelfMetrics;
