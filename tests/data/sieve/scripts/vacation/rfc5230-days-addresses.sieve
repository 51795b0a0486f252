require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                             "ts4z@landru.example.edu"]
   "I'm away until October 19.  If it's an emergency, call 911, I guess." ;
