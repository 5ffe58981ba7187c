// The one Catch2 main of the test suite (kept in its own translation unit).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
