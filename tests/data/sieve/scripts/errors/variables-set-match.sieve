require "variables";
set "1" "x";
