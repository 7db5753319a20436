#pragma once
// One exception type for bad input: the message names the file (or object) and the problem.
#include <stdexcept>
#include <string>

namespace prismaquant {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  // "where: what" — where is a file path, tensor name or other handle the user can find.
  error(const std::string& where, const std::string& what) : std::runtime_error(where + ": " + what) {}
};

}  // namespace prismaquant
