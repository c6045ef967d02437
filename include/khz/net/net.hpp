#pragma once
// The network layer: event loops (epoll | io_uring), connections, listeners, dialers.

#include <khz/net/address.hpp>
#include <khz/net/connection.hpp>
#include <khz/net/dialer.hpp>
#include <khz/net/event_loop.hpp>
#include <khz/net/listener.hpp>
#include <khz/net/loop_group.hpp>
#include <khz/net/move_function.hpp>
#include <khz/net/timer.hpp>
#include <khz/net/transport.hpp>
