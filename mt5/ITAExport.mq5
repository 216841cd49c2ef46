//+------------------------------------------------------------------+
//| ITAExport.mq5 - the latest bars of chosen symbols and timeframes |
//| as CSV files for ITA's live MT5 feed (engine/live/mt5_folder.py) |
//+------------------------------------------------------------------+
//
// What it does
//   On every new bar of each configured symbol and timeframe it rewrites
//   <folder>/<SYMBOL>_<TF>.csv (for example ITA/EURUSD_1m.csv) with the latest
//   InpBars bars in MT5's "Export bars" format (tab-separated, broker server
//   time; the last row is the bar still forming). Each file is written to a
//   temporary file first and then moved over the old one, so ITA never reads
//   half a file. It places no orders and needs no trading permission.
//   TF uses ITA's spelling: 1m 3m 5m 15m 30m 1h 2h 4h 1d 1w.
//
// Install (about 2 minutes)
//   1. In MetaTrader 5: File > Open Data Folder. Copy this file into
//      MQL5\Experts\ (for example MQL5\Experts\ITAExport.mq5).
//   2. Press F4 (MetaEditor), open ITAExport.mq5, press F7 (Compile):
//      "0 errors" at the bottom.
//   3. Back in the terminal: Navigator > Expert Advisors > ITAExport, drag it
//      onto any chart. Inputs: the symbols (empty = the chart's symbol), the
//      timeframes, the number of bars (at least the warm-up your setups need;
//      500 is plenty for most), and InpCommonFolder (leave true).
//   4. The files appear in the common data folder:
//      %APPDATA%\MetaQuotes\Terminal\Common\Files\ITA\
//      (File > Open Data Folder, then up two levels, Common\Files\ITA).
//   5. Tell ITA that folder and the broker server's time zone (ask the broker,
//      or compare the Market Watch clock with UTC; most use "Europe/Athens"-
//      like GMT+2/GMT+3 with daylight saving). See docs/LIVE_MT5.md.
//   Keep the terminal running: the EA writes only while it is attached and the
//   terminal is connected. The Experts tab logs every file it cannot write.
//+------------------------------------------------------------------+
#property copyright "ITA"
#property version   "1.00"
#property description "Rewrites <SYMBOL>_<TF>.csv with the latest bars on every new bar, for ITA."

input string InpSymbols      = "";           // Symbols, comma-separated (empty: this chart's)
input string InpTimeframes   = "1m,15m,1h";  // Timeframes: 1m 3m 5m 15m 30m 1h 2h 4h 1d 1w
input int    InpBars         = 500;          // Bars per file (the last one is forming)
input string InpSubfolder    = "ITA";        // Folder inside MQL5\Files (or Common\Files)
input bool   InpCommonFolder = true;         // Write to the common data folder of all terminals

string          g_symbols[];
ENUM_TIMEFRAMES g_periods[];
string          g_names[];
datetime        g_written[];  // open time of the forming bar at the last successful write

//--- ITA's timeframe spelling to MT5's period; false when unknown
bool ToPeriod(const string name, ENUM_TIMEFRAMES &period)
  {
   if(name == "1m")  { period = PERIOD_M1;  return true; }
   if(name == "3m")  { period = PERIOD_M3;  return true; }
   if(name == "5m")  { period = PERIOD_M5;  return true; }
   if(name == "15m") { period = PERIOD_M15; return true; }
   if(name == "30m") { period = PERIOD_M30; return true; }
   if(name == "1h")  { period = PERIOD_H1;  return true; }
   if(name == "2h")  { period = PERIOD_H2;  return true; }
   if(name == "4h")  { period = PERIOD_H4;  return true; }
   if(name == "1d")  { period = PERIOD_D1;  return true; }
   if(name == "1w")  { period = PERIOD_W1;  return true; }
   return false;
  }

int SplitList(const string text, string &items[])
  {
   string raw[];
   int n = StringSplit(text, ',', raw);
   ArrayResize(items, 0);
   for(int i = 0; i < n; i++)
     {
      string item = raw[i];
      StringTrimLeft(item);
      StringTrimRight(item);
      if(item == "")
         continue;
      int size = ArraySize(items);
      ArrayResize(items, size + 1);
      items[size] = item;
     }
   return ArraySize(items);
  }

int OnInit()
  {
   string symbols[], timeframes[];
   if(SplitList(InpSymbols, symbols) == 0)
     {
      ArrayResize(symbols, 1);
      symbols[0] = _Symbol;
     }
   if(SplitList(InpTimeframes, timeframes) == 0 || InpBars < 2)
     {
      Print("ITAExport: give at least one timeframe and InpBars >= 2");
      return INIT_PARAMETERS_INCORRECT;
     }
   int count = 0;
   for(int s = 0; s < ArraySize(symbols); s++)
     {
      if(!SymbolSelect(symbols[s], true))
        {
         Print("ITAExport: unknown symbol ", symbols[s], " (check Market Watch)");
         return INIT_PARAMETERS_INCORRECT;
        }
      for(int t = 0; t < ArraySize(timeframes); t++)
        {
         ENUM_TIMEFRAMES period;
         if(!ToPeriod(timeframes[t], period))
           {
            Print("ITAExport: timeframe ", timeframes[t], " is not one of 1m 3m 5m 15m 30m 1h 2h 4h 1d 1w");
            return INIT_PARAMETERS_INCORRECT;
           }
         ArrayResize(g_symbols, count + 1);
         ArrayResize(g_periods, count + 1);
         ArrayResize(g_names, count + 1);
         ArrayResize(g_written, count + 1);
         g_symbols[count] = symbols[s];
         g_periods[count] = period;
         g_names[count]   = timeframes[t];
         g_written[count] = 0;
         count++;
        }
     }
   EventSetTimer(1);  // a new bar of another symbol has no tick on this chart
   CheckAll();
   return INIT_SUCCEEDED;
  }

void OnDeinit(const int reason)
  {
   EventKillTimer();
  }

void OnTick()  { CheckAll(); }
void OnTimer() { CheckAll(); }

//--- write every series whose forming bar changed since its last successful write
void CheckAll()
  {
   for(int i = 0; i < ArraySize(g_symbols); i++)
     {
      datetime forming = iTime(g_symbols[i], g_periods[i], 0);
      if(forming == 0 || forming == g_written[i])
         continue;  // no data yet, or already written for this bar
      if(WriteBars(g_symbols[i], g_periods[i], g_names[i]))
         g_written[i] = forming;  // on failure: tried again on the next second
     }
  }

//--- the latest InpBars bars into a temporary file, then moved over <SYMBOL>_<TF>.csv
bool WriteBars(const string symbol, const ENUM_TIMEFRAMES period, const string name)
  {
   MqlRates rates[];
   ArraySetAsSeries(rates, false);  // oldest first
   int n = CopyRates(symbol, period, 0, InpBars, rates);
   if(n <= 0)
      return false;  // history still loading
   int where = InpCommonFolder ? FILE_COMMON : 0;
   string final_name = InpSubfolder + "\\" + symbol + "_" + name + ".csv";
   string temp_name = final_name + ".tmp";
   int handle = FileOpen(temp_name, FILE_WRITE | FILE_BIN | where);
   if(handle == INVALID_HANDLE)
     {
      Print("ITAExport: cannot write ", temp_name, " (error ", GetLastError(), ")");
      return false;
     }
   int digits = (int)SymbolInfoInteger(symbol, SYMBOL_DIGITS);
   string text = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n";
   for(int i = 0; i < n; i++)
     {
      text += TimeToString(rates[i].time, TIME_DATE) + "\t"
              + TimeToString(rates[i].time, TIME_SECONDS) + "\t"
              + DoubleToString(rates[i].open, digits) + "\t"
              + DoubleToString(rates[i].high, digits) + "\t"
              + DoubleToString(rates[i].low, digits) + "\t"
              + DoubleToString(rates[i].close, digits) + "\t"
              + IntegerToString(rates[i].tick_volume) + "\t"
              + IntegerToString(rates[i].real_volume) + "\t"
              + IntegerToString(rates[i].spread) + "\n";
     }
   uchar bytes[];
   int size = StringToCharArray(text, bytes, 0, WHOLE_ARRAY, CP_UTF8) - 1;  // without the NUL
   uint written = FileWriteArray(handle, bytes, 0, size);
   FileFlush(handle);
   FileClose(handle);
   if((int)written != size || !FileMove(temp_name, where, final_name, where | FILE_REWRITE))
     {
      Print("ITAExport: cannot replace ", final_name, " (error ", GetLastError(), "); retrying");
      FileDelete(temp_name, where);
      return false;
     }
   return true;
  }
//+------------------------------------------------------------------+
