// Live-reference helper for tests/live/test_nnls_scipy.py: one JSON case per line
// ({"A": [[...]], "b": [...]}) -> {"x": [...], "rnorm": r}.
#include <prismaquant/proxies/nnls.hpp>

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const auto c = nlohmann::json::parse(line);
    const auto A2 = c["A"].get<std::vector<std::vector<double>>>();
    const auto b = c["b"].get<std::vector<double>>();
    const std::size_t m = A2.size(), n = m ? A2[0].size() : 0;
    std::vector<double> A;
    for (auto& row : A2) A.insert(A.end(), row.begin(), row.end());
    const auto r = prismaquant::proxy::nnls(A, m, n, b);
    std::cout << nlohmann::json{{"x", r.x}, {"rnorm", r.residual_norm}}.dump() << "\n";
  }
}
