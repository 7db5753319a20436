// The cost pass's thread pool: concurrent callers of one pool (the shared one included) each get
// every one of their tasks run exactly once, a call from inside a task runs inline, and an
// exception reaches the caller whose task threw.
#include <catch2/catch.hpp>

#include <prismaquant/cost/parallel.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pc = prismaquant::cost;

TEST_CASE("parallel_for: concurrent callers, nested calls, exceptions") {
  for (pc::thread_pool* pool : {&pc::thread_pool::shared(), new pc::thread_pool(3)}) {
    constexpr int callers = 6, n = 2000;
    std::vector<std::vector<int>> hits(callers, std::vector<int>(n, 0));
    std::vector<std::thread> threads;
    for (int c = 0; c < callers; ++c)
      threads.emplace_back([&, c] {
        for (int round = 0; round < 5; ++round)
          pool->parallel_for(n, [&](std::int64_t i) { ++hits[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)]; });
      });
    for (auto& t : threads) t.join();
    for (const auto& h : hits)
      for (int v : h) REQUIRE(v == 5);

    // nested: the inner call runs on the task's thread
    std::atomic<std::int64_t> inner{0};
    pool->parallel_for(8, [&](std::int64_t) { pool->parallel_for(10, [&](std::int64_t i) { inner += i; }); });
    REQUIRE(inner == 8 * 45);

    REQUIRE_THROWS_AS(pool->parallel_for(100, [](std::int64_t i) {
      if (i == 37) throw std::runtime_error("task 37");
    }),
                      std::runtime_error);
    int after = 0;
    pool->parallel_for(1, [&](std::int64_t) { ++after; });  // still usable
    REQUIRE(after == 1);
    if (pool != &pc::thread_pool::shared()) delete pool;
  }
}
