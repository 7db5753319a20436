# Runs the compiler on SRC, which must fail with the text from its first line "// expect: <text>".
file(STRINGS ${SRC} first LIMIT_COUNT 1)
string(REGEX REPLACE "^// expect: " "" expect "${first}")
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INC} -I/usr/include ${SRC}
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SRC} compiled, but it must not")
endif()
string(FIND "${err}" "${expect}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "${SRC} failed to compile, but without \"${expect}\":\n${err}")
endif()
