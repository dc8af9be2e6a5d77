//! PromQL evaluation over a [`model::SeriesReader`].
