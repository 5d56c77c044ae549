// TEMP STUB (helper replaces)
#[derive(Debug, thiserror::Error)] pub enum PlotError { #[error("drawing plot {name}: {message}")] Draw { name: String, message: String } }
pub struct CdfSeries<'a> { pub label: &'a str, pub points: &'a [(f64, f64)] }
pub fn latency_cdf_svg(title: &str, series: &[CdfSeries]) -> Result<String, PlotError> { Ok(format!("<svg>{title}{}</svg>", series.len())) }
pub struct TimeSeries<'a> { pub label: &'a str, pub points: &'a [(f64, f64)] }
pub fn time_series_svg(title: &str, y_label: &str, series: &[TimeSeries]) -> Result<String, PlotError> { Ok(format!("<svg>{title}{y_label}{}</svg>", series.len())) }
