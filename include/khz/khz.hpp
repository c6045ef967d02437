#pragma once
// Umbrella header: the whole public API of khz.

#include <khz/base/config.hpp>
#include <khz/base/error.hpp>
#include <khz/base/result.hpp>
#include <khz/buffer/block_pool.hpp>
#include <khz/buffer/link_buffer.hpp>
