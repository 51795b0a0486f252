require "vacation";
vacation :days 0 "zero days is one day";
