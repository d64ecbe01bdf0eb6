// prometheus_format.hpp — value and string formatting of the Prometheus text format 0.0.4.
#pragma once

#include <string>
#include <string_view>

namespace trellis::telemetry::prometheus {

// A sample value or `le` bound as the Go client writes it (strconv.FormatFloat(v, 'g', -1, 64)):
// the shortest text that reads back as the same double, in exponent form when the decimal
// exponent is < -4 or >= 6 ("0.005", "2.5", "100000", "1e+06", "1.5e-05"), and "NaN", "+Inf",
// "-Inf" for the special values.
std::string format_value(double v);

// Appends `value` escaped for a label value: backslash, double quote and newline become \\, \"
// and \n.
void append_label_value(std::string& out, std::string_view value);

// Appends `help` escaped for a # HELP line: backslash and newline become \\ and \n.
void append_help(std::string& out, std::string_view help);

}  // namespace trellis::telemetry::prometheus
