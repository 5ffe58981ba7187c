// The dashboard's page (HTML, CSS and JavaScript in one document, no
// external assets), served at / by cli/dashboard_server.h.
#pragma once

namespace flowps {

extern const char kDashboardPage[];

}  // namespace flowps
