#pragma once
// A small persistent std::thread pool with one operation: parallel_for over task indices.
//
// Determinism: tasks are claimed dynamically (an atomic counter), but every task writes its
// result into its own slot and callers reduce the slots in index order afterwards, so the
// result never depends on which thread ran which task, nor on the number of threads.
//
// Callers: any number of threads may call parallel_for on one pool (shared() included); the
// calls take the pool in turn. A call made from inside one of the pool's own tasks runs its
// tasks on the calling thread (the pool is busy with the outer call).
#include <prismaquant/core/error.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>
#if defined(__linux__)
#include <sched.h>
#endif

namespace prismaquant::cost {

// The processors this process may run on: its affinity mask on Linux (taskset, cgroup cpusets),
// so that a pool started under `taskset -c 0,1` has two threads; elsewhere every processor.
inline unsigned usable_processors() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<unsigned>(CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

class thread_pool {
 public:
  // threads == 0: usable_processors(). The calling thread also works, so a pool of n threads
  // starts n-1 workers.
  explicit thread_pool(unsigned threads = 0) {
    n_ = threads ? threads : usable_processors();
    for (unsigned i = 1; i < n_; ++i) workers_.emplace_back([this] { worker(); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  unsigned size() const noexcept { return n_; }

  // Runs fn(i) for i in [0, n); returns when all are done. The first exception thrown by a
  // task is rethrown here (remaining tasks are skipped).
  template <class F>
  void parallel_for(std::int64_t n, F&& fn) {
    if (n <= 0) return;
    if (n_ == 1 || n == 1 || inside() == this) {
      for (std::int64_t i = 0; i < n; ++i) fn(i);
      return;
    }
    std::lock_guard<std::mutex> turn(call_m_);  // one call at a time
    struct mark {  // this thread runs the pool's tasks until the call returns
      const thread_pool* prev;
      explicit mark(const thread_pool* p) : prev(std::exchange(inside(), p)) {}
      ~mark() { inside() = prev; }
    } here(this);
    std::function<void(std::int64_t)> task = std::ref(fn);
    {
      std::lock_guard<std::mutex> lk(m_);
      task_ = &task;
      n_tasks_ = n;
      next_.store(0, std::memory_order_relaxed);
      active_ = static_cast<unsigned>(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    run_tasks();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return active_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

  // A process-wide pool for callers that do not bring their own.
  static thread_pool& shared() {
    static thread_pool pool;
    return pool;
  }

 private:
  // The pool whose tasks the current thread is running (nullptr: none).
  static const thread_pool*& inside() {
    thread_local const thread_pool* p = nullptr;
    return p;
  }
  void run_tasks() {
    for (;;) {
      const std::int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_tasks_) return;
      try {
        (*task_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_tasks_, std::memory_order_relaxed);
      }
    }
  }
  void worker() {
    inside() = this;
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      run_tasks();
      {
        std::lock_guard<std::mutex> lk(m_);
        if (--active_ == 0) done_cv_.notify_one();
      }
    }
  }

  unsigned n_ = 1;
  std::vector<std::thread> workers_;
  std::mutex call_m_;  // held by the running parallel_for
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  bool stop_ = false;
  std::uint64_t generation_ = 0;
  unsigned active_ = 0;
  std::function<void(std::int64_t)>* task_ = nullptr;
  std::int64_t n_tasks_ = 0;
  std::atomic<std::int64_t> next_{0};
  std::exception_ptr error_;
};

}  // namespace prismaquant::cost
