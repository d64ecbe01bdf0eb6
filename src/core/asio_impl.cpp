// The single translation unit that compiles Boost.Asio (with SSL) and Boost.Beast.
// Every other file sees only their declarations (BOOST_*_SEPARATE_COMPILATION), which keeps a
// full build of Trellis fast on two cores.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
