require ["imap4flags", "fileinto"];
addflag ["a b", "c"];
if hasflag :is "b" { fileinto "hasb"; }
if hasflag :contains "c" { fileinto "hasc"; }
if hasflag :is "d" { fileinto "hasd"; }
removeflag "a b c";
