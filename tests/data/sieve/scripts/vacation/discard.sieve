require "vacation";
vacation "bye";
discard;
