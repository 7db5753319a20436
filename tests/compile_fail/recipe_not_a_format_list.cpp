// expect: prismaquant recipe: the first argument must be a formats::format_list<F...>
// The recipe's formats are a compile-time list; a single format type is a named error.
#include <prismaquant/recipe.hpp>

int main() { prismaquant::recipe<prismaquant::formats::nvfp4> r; (void)r; }
