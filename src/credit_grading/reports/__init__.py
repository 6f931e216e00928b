"""Validation and monitoring reports (HTML + JSON) and the statistics behind them."""

from credit_grading.reports.monitor import monitor, render_monitoring_html
from credit_grading.reports.validation import render_profiles_html, render_validation_html, validation_report

__all__ = ["monitor", "render_monitoring_html", "render_profiles_html", "render_validation_html", "validation_report"]
